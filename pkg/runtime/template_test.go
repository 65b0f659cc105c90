package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// sinceInit returns how long ago, by its own clock, the counter guest was
// initialized, and its count after one more reconcile.
func sinceInit(t *testing.T, inst *runtime.Instance) (time.Duration, string) {
	t.Helper()
	_, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "clock", Reason: "event"})
	var count int
	var since int64
	if err == nil {
		t.Fatal("clock reconcile: no error, want count=N since=N")
	}
	if _, serr := fmt.Sscanf(err.Error(), "count=%d since=%d", &count, &since); serr != nil {
		t.Fatalf("clock reconcile: %v", err)
	}
	return time.Duration(since), fmt.Sprintf("count=%d", count)
}

// newTemplateRuntime returns a runtime with templates turned on.
func newTemplateRuntime(t testing.TB) *runtime.Runtime {
	t.Helper()
	r, err := runtime.New(context.Background(), runtime.SharedCache(runtime.Config{
		CacheDir: filepath.Join(t.TempDir(), "cache"), TemplateBudgetBytes: runtime.DefaultTemplateBudgetBytes}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// counterIn returns a runtime of cfg (with the package's shared compilation
// cache) and the counter guest loaded in it, both let go of when the test
// ends.
func counterIn(t *testing.T, cfg runtime.Config) (*runtime.Runtime, *runtime.Module) {
	t.Helper()
	r, err := runtime.New(t.Context(), runtime.SharedCache(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	m, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	return r, m
}

// TestInstantiate_TemplatesOffByDefault checks that a runtime with the zero
// Config keeps no template: templates are off unless configured.
func TestInstantiate_TemplatesOffByDefault(t *testing.T) {
	r, m := counterIn(t, runtime.Config{CacheDir: filepath.Join(t.TempDir(), "cache")})
	for range 2 {
		inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "default/counter", MemoryLimit: 64 << 20, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		inst.Close(t.Context())
	}
	if held := r.TemplateBytes(); held != 0 {
		t.Errorf("TemplateBytes() = %d, want 0", held)
	}
}

// TestInstantiate_Template checks that a fresh instance of a module whose
// instance was already initialized with the same environment, in the same
// namespace, starts from that initialized memory (its init ran before it was
// created), that it shares nothing it writes with other instances, and that
// each instance is told the controller it runs for.
func TestInstantiate_Template(t *testing.T) {
	const gap = 200 * time.Millisecond
	base := runtime.InstanceConfig{Name: "default/counter", Tenant: "default", MemoryLimit: 64 << 20, Env: map[string]string{"A": "1"}, Logger: discard}
	withName := base
	withName.Name = "default/other"
	withTenant := base
	withTenant.Name, withTenant.Tenant = "other/counter", "other"
	withEnv := base
	withEnv.Env = map[string]string{"A": "2"}
	small := base
	tests := []struct {
		name   string
		budget int64
		cfg    runtime.InstanceConfig
		// fromTemplate: the second instance skipped its init.
		fromTemplate bool
		// inDir keeps the template in a directory (Config.TemplateDir).
		inDir bool
	}{
		{name: "same name and environment", budget: runtime.DefaultTemplateBudgetBytes, cfg: base, fromTemplate: true},
		{name: "same name and environment, template in a directory", budget: runtime.DefaultTemplateBudgetBytes, cfg: base, fromTemplate: true, inDir: true},
		// The guest is built with the SDK, whose modules declare that
		// their init does not need the guest's name.
		{name: "another name in the namespace", budget: runtime.DefaultTemplateBudgetBytes, cfg: withName, fromTemplate: true},
		{name: "another namespace", budget: runtime.DefaultTemplateBudgetBytes, cfg: withTenant},
		{name: "another environment", budget: runtime.DefaultTemplateBudgetBytes, cfg: withEnv},
		{name: "templates off by default", cfg: base},
		{name: "templates off", budget: -1, cfg: base},
		{name: "budget too small", budget: 4096, cfg: small},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runtime.Config{CacheDir: filepath.Join(t.TempDir(), "cache"), TemplateBudgetBytes: tc.budget}
			if tc.inDir {
				cfg.TemplateDir = filepath.Join(t.TempDir(), "templates")
			}
			r, m := counterIn(t, cfg)

			first, err := m.Instantiate(t.Context(), base)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close(context.Background())
			if _, count := sinceInit(t, first); count != "count=1" {
				t.Fatalf("first instance: %s, want count=1", count)
			}
			time.Sleep(gap)
			second, err := m.Instantiate(t.Context(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close(context.Background())
			since, count := sinceInit(t, second)
			if count != "count=1" {
				t.Errorf("second instance: %s, want count=1 (the first's reconcile must not show)", count)
			}
			if got := since >= gap; got != tc.fromTemplate {
				t.Errorf("second instance initialized %v ago; started from the first's initialized memory: %v, want %v", since, got, tc.fromTemplate)
			}
			if _, count := sinceInit(t, first); count != "count=2" {
				t.Errorf("first instance after the second started: %s, want count=2", count)
			}
			// Each knows whom it runs for, whatever it started from.
			for _, c := range []struct {
				inst *runtime.Instance
				cfg  runtime.InstanceConfig
			}{{first, base}, {second, tc.cfg}} {
				_, err := c.inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "whoami"})
				if want := "controller=" + c.cfg.Name + " args=wasm-controller"; err == nil || err.Error() != want {
					t.Errorf("whoami in the instance of %s: %v, want %s", c.cfg.Name, err, want)
				}
			}
			// The guest's Go runtime is consistent: it allocates and
			// collects.
			if _, err := second.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "churn"}); err != nil {
				t.Errorf("churn in the second instance: %v", err)
			}
			if held := r.TemplateBytes(); (held > 0) != (tc.budget > 0 && tc.budget != 4096) {
				t.Errorf("TemplateBytes() = %d", held)
			}
		})
	}
}

// TestInstantiate_TemplateEnvironment checks that the environment a guest
// reads at init is its own when another environment's template exists.
func TestInstantiate_TemplateEnvironment(t *testing.T) {
	r := newTemplateRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	for _, resource := range []string{"configmaps", "secrets", "configmaps", "secrets"} {
		api := &fakeAPI{}
		env := map[string]string{}
		if resource == "secrets" {
			env["ECHO_RESOURCE"] = "secrets"
		}
		inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "default/echo", Env: env, MemoryLimit: 64 << 20, API: api, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "cm"}); err != nil {
			t.Fatal(err)
		}
		inst.Close(t.Context())
		if len(api.requests) != 1 || !strings.Contains(api.requests[0].Path, "/"+resource+"/") {
			t.Errorf("with %v the guest asked for %v, want one request for %s", env, api.requests, resource)
		}
	}
	if r.TemplateBytes() == 0 {
		t.Error("no template was kept")
	}
}

// TestInstantiate_TemplateSnapshot checks that an instance started from a
// template snapshots and restores like any other, and that releasing the
// module frees its templates.
func TestInstantiate_TemplateSnapshot(t *testing.T) {
	r := newTemplateRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := runtime.InstanceConfig{Name: "default/counter", MemoryLimit: 64 << 20, Logger: discard}
	first, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Close(t.Context())
	inst, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		sinceInit(t, inst)
	}
	path := filepath.Join(t.TempDir(), "snapshot")
	if _, err := inst.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	inst.Close(t.Context())
	restored, err := m.RestoreFile(t.Context(), cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, count := sinceInit(t, restored); count != "count=4" {
		t.Errorf("restored: %s, want count=4", count)
	}
	restored.Close(t.Context())
	m.Release(t.Context())
	if held := r.TemplateBytes(); held != 0 {
		t.Errorf("TemplateBytes() after the module's release = %d, want 0", held)
	}
}

// TestInstantiate_TemplateEviction checks that a module's templates go
// with its compiled code when it is evicted.
func TestInstantiate_TemplateEviction(t *testing.T) {
	r, m := counterIn(t, runtime.Config{
		CacheDir: filepath.Join(t.TempDir(), "cache"), CompiledBudgetBytes: 1,
		TemplateBudgetBytes: runtime.DefaultTemplateBudgetBytes})
	inst, err := m.Instantiate(t.Context(), runtime.InstanceConfig{Name: "default/counter", MemoryLimit: 64 << 20, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if r.TemplateBytes() == 0 {
		t.Fatal("no template was kept")
	}
	inst.Close(t.Context())
	if m.Resident() {
		t.Fatal("the module over the budget was not evicted")
	}
	if held := r.TemplateBytes(); held != 0 {
		t.Errorf("TemplateBytes() after eviction = %d, want 0", held)
	}
}

// TestInstantiate_TemplateConcurrent starts instances from one template at
// once: each has memory of its own (its count starts from the template's)
// and the scratch memory they share in turn is never shared at once.
func TestInstantiate_TemplateConcurrent(t *testing.T) {
	r := newTemplateRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	cfg := runtime.InstanceConfig{Name: "default/counter", MemoryLimit: 64 << 20, Logger: discard}
	first, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Close(t.Context())
	const n = 6
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- func() error {
				for range 3 {
					inst, err := m.Instantiate(t.Context(), cfg)
					if err != nil {
						return err
					}
					for want := 1; want <= 2; want++ {
						_, err := inst.Reconcile(t.Context(), runtime.Request{Namespace: "default", Name: "report"})
						if err == nil || err.Error() != fmt.Sprintf("count=%d", want) {
							inst.Close(t.Context())
							return fmt.Errorf("reconcile %d: %v, want count=%d", want, err, want)
						}
					}
					inst.Close(t.Context())
				}
				return nil
			}()
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestInstantiate_TemplateIdle checks that a full template budget makes
// room for a new template only by dropping templates gone unused: one
// left behind (by a deleted controller, say) does not hold the budget for
// ever, and controllers woken in turn do not take each other's place.
func TestInstantiate_TemplateIdle(t *testing.T) {
	tests := []struct {
		name     string
		idle     time.Duration
		replaced bool
	}{
		{name: "in use", idle: time.Hour},
		{name: "idle", idle: time.Nanosecond, replaced: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Room for one template of the counter guest (2 MB), not two.
			r, m := counterIn(t, runtime.Config{
				CacheDir: filepath.Join(t.TempDir(), "cache"), TemplateBudgetBytes: 3 << 20})
			r.SetTemplateIdle(tc.idle)
			fromTemplate := func(name string) bool {
				t.Helper()
				// Two environments: the guest's templates are shared by a
				// namespace's controllers of one environment.
				cfg := runtime.InstanceConfig{Name: name, Env: map[string]string{"CONTROLLER": name}, MemoryLimit: 64 << 20, Logger: discard}
				var since time.Duration
				for range 2 {
					inst, err := m.Instantiate(t.Context(), cfg)
					if err != nil {
						t.Fatal(err)
					}
					since, _ = sinceInit(t, inst)
					inst.Close(t.Context())
					time.Sleep(50 * time.Millisecond)
				}
				return since >= 50*time.Millisecond
			}
			if !fromTemplate("default/a") {
				t.Fatal("controller a: the second instance initialized")
			}
			if got := fromTemplate("default/b"); got != tc.replaced {
				t.Errorf("controller b started from a template: %v, want %v", got, tc.replaced)
			}
			if held := r.TemplateBytes(); held == 0 || held > 3<<20 {
				t.Errorf("TemplateBytes() = %d, want one template's", held)
			}
		})
	}
}

// TestInstantiate_TemplateKeptAcrossIdleUnload: a module that gives up its
// compiled code for being idle (Config.CompiledIdleUnload) keeps its
// templates, so that the first instance after the unload starts from the
// memory initialized before it rather than running its init again.
func TestInstantiate_TemplateKeptAcrossIdleUnload(t *testing.T) {
	r, m := counterIn(t, runtime.Config{
		CacheDir: filepath.Join(t.TempDir(), "cache"), TemplateDir: filepath.Join(t.TempDir(), "templates"),
		TemplateBudgetBytes: runtime.DefaultTemplateBudgetBytes, CompiledIdleUnload: 50 * time.Millisecond})
	cfg := runtime.InstanceConfig{Name: "default/counter", MemoryLimit: 64 << 20, Logger: discard}
	first, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	initialized := time.Now()
	first.Close(context.Background())
	held := r.TemplateBytes()
	if held == 0 {
		t.Fatal("no template was captured")
	}
	for deadline := time.Now().Add(30 * time.Second); m.Resident(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the module's compiled code was not unloaded")
		}
	}
	if got := r.TemplateBytes(); got != held {
		t.Errorf("TemplateBytes() = %d after the idle unload, want %d (kept)", got, held)
	}
	second, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close(context.Background())
	if since, _ := sinceInit(t, second); since < time.Since(initialized)-10*time.Millisecond {
		t.Errorf("the instance after the unload was initialized %s ago, the template %s ago: it ran its init again",
			since, time.Since(initialized))
	}
}
