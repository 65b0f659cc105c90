package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// discard drops a guest's logs. (logr.Discard has no sink, which the
// runtime takes as "log to klog".)
var discard = funcr.New(func(string, string) {}, funcr.Options{})

func BenchmarkCompile(b *testing.B) {
	wasm := guest(b, "echo")
	b.Run("cold", func(b *testing.B) {
		r := newRuntime(b)
		for i := 0; b.Loop(); i++ {
			m, err := r.Load(b.Context(), guesttest.WithCustomSection(wasm, "cold-"+strconv.Itoa(i)))
			if err != nil {
				b.Fatal(err)
			}
			m.Release(b.Context())
		}
	})
	b.Run("from-disk-cache", func(b *testing.B) {
		dir := b.TempDir()
		warm, err := runtime.New(b.Context(), runtime.Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		m, err := warm.Load(b.Context(), wasm)
		if err != nil {
			b.Fatal(err)
		}
		m.Release(b.Context())
		_ = warm.Close(b.Context())
		for b.Loop() {
			r, err := runtime.New(b.Context(), runtime.Config{CacheDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			m, err := r.Load(b.Context(), wasm)
			if err != nil {
				b.Fatal(err)
			}
			m.Release(b.Context())
			_ = r.Close(b.Context())
		}
	})
}

// loadWith loads wasm in a runtime built by newRuntime, closed with b.
func loadWith(b *testing.B, newRuntime func(context.Context, runtime.Config) (*runtime.Runtime, error), wasm []byte) *runtime.Module {
	b.Helper()
	r, err := newRuntime(b.Context(), runtime.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close(context.Background()) })
	m, err := r.Load(b.Context(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkInstantiate measures a fresh instance: memory, guest init
// (Go's runtime and package init), and closing it again, with the data
// segments merged at load (as the runtime does) and as the module has them,
// and started from a template of initialized memory instead of
// initializing (as the runtime does from the second instance on).
func BenchmarkInstantiate(b *testing.B) {
	wasm := guest(b, "echo")
	for _, tc := range []struct {
		name      string
		new       func(context.Context, runtime.Config) (*runtime.Runtime, error)
		templates bool
	}{
		{"merged-segments", runtime.New, false},
		{"module-segments", runtime.NewKeepingDataSegments, false},
		{"template", runtime.New, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := loadWith(b, func(ctx context.Context, cfg runtime.Config) (*runtime.Runtime, error) {
				r, err := tc.new(ctx, cfg)
				if err == nil {
					r.SetTemplates(tc.templates)
				}
				return r, err
			}, wasm)
			var mem uint64
			for b.Loop() {
				inst, err := m.Instantiate(b.Context(), runtime.InstanceConfig{Name: "bench", MemoryLimit: 64 << 20, Logger: discard})
				if err != nil {
					b.Fatal(err)
				}
				mem = inst.MemoryBytes()
				inst.Close(b.Context())
			}
			b.ReportMetric(float64(mem), "linear-memory-bytes")
		})
	}
}

// BenchmarkReconcile_Warm is one reconcile of a resident guest that makes
// one API request (answered by a fake) and logs one line.
func BenchmarkReconcile_Warm(b *testing.B) {
	r := newRuntime(b)
	m, err := r.Load(b.Context(), guest(b, "echo"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release(context.Background())
	inst, err := m.Instantiate(b.Context(), runtime.InstanceConfig{Name: "bench", MemoryLimit: 64 << 20, API: &fakeAPI{}, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.Background())
	req := runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}
	for b.Loop() {
		if _, err := inst.Reconcile(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReconcile_Compute is a reconcile of 10^6 loop iterations and no
// host calls, with and without interrupting guests on context cancellation.
func BenchmarkReconcile_Compute(b *testing.B) {
	wasm := guest(b, "compute")
	for _, tc := range []struct {
		name string
		new  func(context.Context, runtime.Config) (*runtime.Runtime, error)
	}{{"interruptible", runtime.New}, {"uninterruptible", runtime.NewUninterruptible}} {
		b.Run(tc.name, func(b *testing.B) {
			m := loadWith(b, tc.new, wasm)
			inst, err := m.Instantiate(b.Context(), runtime.InstanceConfig{Name: "bench", MemoryLimit: 64 << 20, Logger: discard})
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Close(context.Background())
			for b.Loop() {
				if _, err := inst.Reconcile(b.Context(), runtime.Request{Name: "x"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemory reports the host memory a loaded distinct module and a
// resident instance cost: RSS after loading n distinct modules (the same
// code under different digests) and instantiating n guests of one, next to
// the runtime's estimate of the compiled code (Runtime.CompiledBytes), and
// RSS after loading n distinct modules under a budget that keeps one
// resident. client-go is loaded once (a new digest compiles cold, for
// minutes).
func BenchmarkMemory(b *testing.B) {
	for _, g := range []struct {
		name string
		n    int
	}{{"echo", 10}, {"clientgo", 1}} {
		b.Run(g.name, func(b *testing.B) {
			wasm, err := guesttest.TryBuild(g.name)
			if err != nil {
				b.Skipf("guest %s does not build: %v", g.name, err)
			}
			for b.Loop() {
				measureMemory(b, wasm, g.n)
			}
		})
	}
}

func measureMemory(b *testing.B, wasm []byte, n int) {
	digest := func(i int) []byte {
		if n == 1 {
			return wasm
		}
		return guesttest.WithCustomSection(wasm, "distinct-"+strconv.Itoa(i))
	}
	settle()
	r, err := runtime.New(b.Context(), runtime.Config{CacheDir: sharedCacheDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	before := rss(b)
	var mods []*runtime.Module
	for i := range n {
		m, err := r.Load(b.Context(), digest(i))
		if err != nil {
			b.Fatal(err)
		}
		mods = append(mods, m)
	}
	settle()
	afterLoad := rss(b)
	var insts []*runtime.Instance
	for range n {
		inst, err := mods[0].Instantiate(b.Context(), runtime.InstanceConfig{Name: "bench", MemoryLimit: 256 << 20, Logger: discard})
		if err != nil {
			b.Fatal(err)
		}
		insts = append(insts, inst)
	}
	afterInst := rss(b)
	perModule := float64(afterLoad-before) / float64(n)
	b.ReportMetric(perModule, "rss-bytes/module")
	b.ReportMetric(float64(r.CompiledBytes())/float64(n), "estimated-bytes/module")
	b.ReportMetric(float64(afterInst-afterLoad)/float64(n), "rss-bytes/instance")
	for _, inst := range insts {
		inst.Close(context.Background())
	}
	for _, m := range mods {
		m.Release(context.Background())
	}
	_ = r.Close(context.Background())
	if n == 1 {
		return
	}

	// The same modules under a budget of one byte: all but the last
	// loaded are evicted.
	settle()
	r, err = runtime.New(b.Context(), runtime.Config{CacheDir: sharedCacheDir(b), CompiledBudgetBytes: 1})
	if err != nil {
		b.Fatal(err)
	}
	before = rss(b)
	for i := range n {
		m, err := r.Load(b.Context(), digest(i))
		if err != nil {
			b.Fatal(err)
		}
		defer m.Release(context.Background())
	}
	settle()
	b.ReportMetric((float64(rss(b)-before)-perModule)/float64(n-1), "rss-bytes/evicted-module")
	_ = r.Close(context.Background())
}

// settle collects garbage, runs the finalizers that unmap evicted compiled
// code, and returns freed memory to the OS, so that RSS reflects what is
// held.
func settle() {
	for range 2 {
		goruntime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	debug.FreeOSMemory()
}

// rss reads the process's resident set size from /proc.
func rss(b *testing.B) int64 {
	b.Helper()
	status, err := os.ReadFile(filepath.Join("/proc", "self", "status"))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("VmRSS not found in /proc/self/status")
	return 0
}
