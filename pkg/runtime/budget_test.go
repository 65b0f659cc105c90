package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// variantName names the i-th variant of a guest with its own digest (see
// guesttest.WithCustomSection). The tests reuse the same few variants, so
// that the shared compilation cache compiles each once.
func variantName(i int) string {
	return "variant-" + string(rune('a'+i))
}

func TestRuntime_CompiledBudget(t *testing.T) {
	r, wasm, cost := budgetRuntime(t) // room for one module and a half
	mods := map[string]*runtime.Module{}
	for _, name := range []string{"a", "b", "c"} {
		m, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, "variant-"+name))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(context.Background())
		mods[name] = m
	}
	resident := func() map[string]bool {
		got := map[string]bool{}
		for name, m := range mods {
			got[name] = m.Resident()
		}
		return got
	}

	var live *runtime.Instance
	steps := []struct {
		name         string
		do           func(t *testing.T)
		wantResident map[string]bool
		wantBytes    int64
	}{
		{name: "after loading a, b, c only the last stays",
			do:           func(*testing.T) {},
			wantResident: map[string]bool{"a": false, "b": false, "c": true}, wantBytes: cost},
		{name: "instantiating evicted a compiles it again and evicts c",
			do: func(t *testing.T) {
				var err error
				if live, err = mods["a"].Instantiate(t.Context(), counterConfig); err != nil {
					t.Fatal(err)
				}
				if c, _ := report(t, live, "report"); c != 1 {
					t.Errorf("count = %d, want 1", c)
				}
			},
			wantResident: map[string]bool{"a": true, "b": false, "c": false}, wantBytes: cost},
		{name: "a module with a live instance is kept over budget",
			do: func(t *testing.T) {
				if err := mods["b"].Warm(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			wantResident: map[string]bool{"a": true, "b": true, "c": false}, wantBytes: 2 * cost},
		{name: "closing the last instance lets the least recently used go",
			do:           func(t *testing.T) { live.Close(t.Context()) },
			wantResident: map[string]bool{"a": false, "b": true, "c": false}, wantBytes: cost},
		{name: "warming c evicts b, used less recently",
			do: func(t *testing.T) {
				if err := mods["c"].Warm(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			wantResident: map[string]bool{"a": false, "b": false, "c": true}, wantBytes: cost},
		{name: "a restore compiles an evicted module too",
			do: func(t *testing.T) {
				inst, err := mods["b"].Instantiate(t.Context(), counterConfig)
				if err != nil {
					t.Fatal(err)
				}
				snap := saveTo(t, inst)
				inst.Close(t.Context())
				if err := mods["c"].Warm(t.Context()); err != nil { // evicts b
					t.Fatal(err)
				}
				if mods["b"].Resident() {
					t.Fatal("b still resident")
				}
				restored, err := mods["b"].RestoreFile(t.Context(), counterConfig, snap)
				if err != nil {
					t.Fatal(err)
				}
				restored.Close(t.Context())
			},
			wantResident: map[string]bool{"a": false, "b": true, "c": false}, wantBytes: cost},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.do(t)
			if diff := cmp.Diff(step.wantResident, resident()); diff != "" {
				t.Errorf("resident (-want +got):\n%s", diff)
			}
			if got := r.CompiledBytes(); got != step.wantBytes {
				t.Errorf("CompiledBytes = %d, want %d", got, step.wantBytes)
			}
		})
	}
	if r.LoadedModules() != 3 {
		t.Errorf("LoadedModules = %d, want 3: eviction keeps modules loaded", r.LoadedModules())
	}
}

// saveTo saves a snapshot of inst in a temporary file and returns its
// path.
func saveTo(t *testing.T, inst *runtime.Instance) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapshot")
	if _, err := inst.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRuntime_CompiledBudgetWithoutCacheDir: without a cache dir the
// module bytes stay in memory and an evicted module compiles from them.
func TestRuntime_CompiledBudgetWithoutCacheDir(t *testing.T) {
	wasm := guest(t, "counter")
	r, err := runtime.New(t.Context(), runtime.SharedCache(runtime.Config{CompiledBudgetBytes: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	var mods []*runtime.Module
	for i := range 2 {
		m, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(context.Background())
		mods = append(mods, m)
	}
	if mods[0].Resident() || !mods[1].Resident() {
		t.Fatalf("resident: %v %v, want only the last loaded", mods[0].Resident(), mods[1].Resident())
	}
	inst, err := mods[0].Instantiate(t.Context(), counterConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	if c, _ := report(t, inst, "report"); c != 1 {
		t.Errorf("count = %d, want 1", c)
	}
}

// TestModule_KeptBytes: with a cache dir the bytes an evicted module
// compiles from are in <CacheDir>/modules, checked when read back, and
// removed with the last Release.
func TestModule_KeptBytes(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "cache")
	wasm := guest(t, "counter")
	r, err := runtime.New(t.Context(), runtime.SharedCache(runtime.Config{CacheDir: cacheDir, CompiledBudgetBytes: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	a, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(0)))
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(cacheDir, "modules", strings.TrimPrefix(a.Digest, "sha256:")+".wasm")
	if fi, err := os.Stat(kept); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept bytes: %v, %v; want a 0600 file", fi, err)
	}
	b, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(1))) // evicts a
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(context.Background())
	if a.Resident() {
		t.Fatal("a still resident")
	}
	if err := os.WriteFile(kept, []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Warm(t.Context()); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("Warm with the kept bytes changed = %v, want an error saying so", err)
	}
	a.Release(t.Context())
	if _, err := os.Stat(kept); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("kept bytes after the last Release: %v, want them removed", err)
	}
	if err := a.Warm(t.Context()); err == nil {
		t.Errorf("Warm of a released module succeeded")
	}
}

// blockingAPI holds each API request until release is closed, telling
// entered about it first.
type blockingAPI struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingAPI) ServeAPI(ctx context.Context, req *runtime.APIRequest) *runtime.APIResponse {
	b.entered <- struct{}{}
	<-b.release
	return (&fakeAPI{}).ServeAPI(ctx, req)
}

// TestRuntime_ModuleInUseIsNeverEvicted: whatever other modules need, a
// module keeps its compiled code while an instance of it runs a reconcile,
// sits idle in memory, or was restored from a snapshot, over the budget if
// need be; it goes once the last is closed and another module needs room.
func TestRuntime_ModuleInUseIsNeverEvicted(t *testing.T) {
	r, wasm, _ := budgetRuntimeOf(t, "echo") // room for one module and a half
	m, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	other, err := r.Load(t.Context(), guesttest.WithCustomSection(wasm, variantName(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(context.Background())
	cfg := runtime.InstanceConfig{Name: "test/in-use", MemoryLimit: 64 << 20, API: &fakeAPI{}}
	req := runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}

	tests := []struct {
		name string
		// use starts using m and returns what ends the use.
		use func(t *testing.T) (done func())
	}{
		{name: "a reconcile running", use: func(t *testing.T) func() {
			api := &blockingAPI{entered: make(chan struct{}), release: make(chan struct{})}
			cfg := cfg
			cfg.API = api
			inst, err := m.Instantiate(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			reconciled := make(chan error, 1)
			go func() {
				_, err := inst.Reconcile(t.Context(), req)
				reconciled <- err
			}()
			<-api.entered
			return func() {
				close(api.release)
				if err := <-reconciled; err != nil {
					t.Errorf("Reconcile = %v", err)
				}
				inst.Close(t.Context())
			}
		}},
		{name: "an idle instance in memory", use: func(t *testing.T) func() {
			inst, err := m.Instantiate(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inst.Reconcile(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			return func() { inst.Close(t.Context()) }
		}},
		{name: "a restored instance", use: func(t *testing.T) func() {
			inst, err := m.Instantiate(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			snap := saveTo(t, inst)
			inst.Close(t.Context())
			if inst, err = m.RestoreFile(t.Context(), cfg, snap); err != nil {
				t.Fatal(err)
			}
			return func() { inst.Close(t.Context()) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := tt.use(t)
			// Other modules' loads and wakes evict whatever is not in use.
			if err := other.Warm(t.Context()); err != nil {
				t.Fatal(err)
			}
			inst, err := other.Instantiate(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			inst.Close(t.Context())
			if !m.Resident() {
				t.Error("the module in use was evicted")
			}
			done()
			if err := other.Warm(t.Context()); err != nil {
				t.Fatal(err)
			}
			if m.Resident() {
				t.Error("the module is still resident after its last instance closed, over the budget")
			}
		})
	}
}
