package runtime

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2"
)

// smallModule is the driver module with a digest of its own per pages.
func smallModule(pages uint32) []byte {
	m := driverModule()
	m.memPages = pages
	return m.encode()
}

// largeModule is the driver module with a function of 8 KiB of code
// besides: its compiled code is estimated many times a smallModule's.
func largeModule() []byte {
	m := driverModule()
	m.funcs = append(m.funcs, testFunc{body: bytes.Repeat([]byte{0x01}, 8<<10)}) // nop…
	return m.encode()
}

// overBudgetRuntime returns a runtime whose budget holds two small
// modules and a half, and not a large one, with its metrics on reg.
func overBudgetRuntime(t *testing.T, reg metrics.KubeRegistry) *Runtime {
	t.Helper()
	probe := &Module{}
	if _, err := probe.rewrite(smallModule(1), true, true); err != nil {
		t.Fatal(err)
	}
	r, err := New(t.Context(), Config{CompiledBudgetBytes: probe.cost * 5 / 2, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func load(t *testing.T, r *Runtime, wasm []byte) *Module {
	t.Helper()
	m, err := r.Load(t.Context(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	return m
}

// TestRuntime_EvictsOverBudgetModuleFirst: a module whose code alone is
// over the budget stays resident while in use without evicting the
// modules that fit, and is the first to go once not in use.
func TestRuntime_EvictsOverBudgetModuleFirst(t *testing.T) {
	r := overBudgetRuntime(t, nil)
	a, b := load(t, r, smallModule(1)), load(t, r, smallModule(2))
	large := load(t, r, largeModule())
	if large.cost <= r.cfg.CompiledBudgetBytes {
		t.Fatalf("large module's cost %d is within the budget %d", large.cost, r.cfg.CompiledBudgetBytes)
	}
	resident := func() map[string]bool {
		return map[string]bool{"a": a.Resident(), "b": b.Resident(), "large": large.Resident()}
	}
	steps := []struct {
		name string
		do   func(t *testing.T)
		want map[string]bool
	}{
		{name: "loading the large module keeps the small ones",
			do: func(*testing.T) {}, want: map[string]bool{"a": true, "b": true, "large": true}},
		{name: "an instance of the large module keeps it and the small ones",
			do: func(t *testing.T) {
				if _, _, err := large.acquire(t.Context(), true); err != nil {
					t.Fatal(err)
				}
			}, want: map[string]bool{"a": true, "b": true, "large": true}},
		{name: "its instance closed, the large module goes first",
			do: func(t *testing.T) {
				if err := a.Warm(t.Context()); err != nil { // a used after the large module
					t.Fatal(err)
				}
				large.instanceDone(t.Context())
			}, want: map[string]bool{"a": true, "b": true, "large": false}},
		{name: "woken again, it is reloaded without evicting the others",
			do: func(t *testing.T) {
				if _, _, err := large.acquire(t.Context(), true); err != nil {
					t.Fatal(err)
				}
				large.instanceDone(t.Context())
			}, want: map[string]bool{"a": true, "b": true, "large": false}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.do(t)
			if diff := cmp.Diff(step.want, resident()); diff != "" {
				t.Errorf("resident (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModule_CheckCompiledBudget(t *testing.T) {
	r := overBudgetRuntime(t, nil)
	unbounded, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unbounded.Close(context.Background()) }()
	tests := []struct {
		name     string
		r        *Runtime
		wasm     []byte
		wantOver bool
	}{
		{name: "within the budget", r: r, wasm: smallModule(1)},
		{name: "over the budget", r: r, wasm: largeModule(), wantOver: true},
		{name: "no budget", r: unbounded, wasm: largeModule()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, tt.r, tt.wasm)
			err := m.CheckCompiledBudget()
			var over *CompiledBudgetError
			if got := errors.As(err, &over); got != tt.wantOver {
				t.Fatalf("CheckCompiledBudget = %v, want over budget: %v", err, tt.wantOver)
			}
			if over != nil && (over.Digest != m.Digest || over.EstimatedBytes != m.cost || over.BudgetBytes != tt.r.cfg.CompiledBudgetBytes ||
				!strings.Contains(over.Error(), "--compiled-module-budget")) {
				t.Errorf("CheckCompiledBudget = %+v (%v), want the module's digest, cost and the budget, and what to do", over, over)
			}
		})
	}
}

// TestRuntime_ReportsOverBudgetModules: a module over the budget is logged
// once when loaded, however often it reloads, and counted in the metrics
// with each of its reloads.
func TestRuntime_ReportsOverBudgetModules(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	klog.SetLogger(funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, args)
	}, funcr.Options{}))
	defer klog.ClearLogger()

	reg := metrics.NewKubeRegistry()
	r := overBudgetRuntime(t, reg)
	load(t, r, smallModule(1))
	large := load(t, r, largeModule())
	load(t, r, largeModule()) // the same module again
	for range 3 {             // resident at the first wake, evicted after each

		if _, _, err := large.acquire(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		large.instanceDone(t.Context())
	}

	mu.Lock()
	var overBudget int
	for _, l := range logged {
		if strings.Contains(l, "larger than the compiled-module budget") {
			overBudget++
			if !strings.Contains(l, large.Digest) {
				t.Errorf("log line %s does not name the module", l)
			}
		}
	}
	mu.Unlock()
	if overBudget != 1 {
		t.Errorf("%d log lines about the module over the budget, want 1: %q", overBudget, logged)
	}
	want := `
# HELP wasm_apiserver_compiled_module_reloads_total [ALPHA] Modules whose compiled code was evicted (compiled_module_evictions_total) and was loaded again for a wake, by whether the module's code alone is larger than the budget (over_budget: true reloads at every wake).
# TYPE wasm_apiserver_compiled_module_reloads_total counter
wasm_apiserver_compiled_module_reloads_total{over_budget="true"} 2
# HELP wasm_apiserver_compiled_modules_over_budget [ALPHA] Loaded modules whose compiled code alone is larger than the budget, even with their native code dropped: evicted as soon as no instance of them is resident, and loaded again at their next wake.
# TYPE wasm_apiserver_compiled_modules_over_budget gauge
wasm_apiserver_compiled_modules_over_budget 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"wasm_apiserver_compiled_module_reloads_total", "wasm_apiserver_compiled_modules_over_budget"); err != nil {
		t.Error(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var timed uint64
	for _, f := range families {
		if f.GetName() == "wasm_apiserver_compiled_module_reload_duration_seconds" {
			timed = f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if timed != 2 {
		t.Errorf("%d reloads timed, want 2", timed)
	}
}
