package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// dropState is what the budget holds of a module: whether it is loaded
// (compiled code, resident or dropped), whether its code is dropped, and
// whether its code is listed to be mapped from a file.
type dropState struct {
	loaded, dropped, listed bool
}

func dropStateOf(m *Module) dropState {
	r := m.runtime
	r.mu.Lock()
	defer r.mu.Unlock()
	return dropState{loaded: m.compiled != nil, dropped: m.codeDropped, listed: m.codeBytes > 0}
}

// codeSizes returns the estimated cost of wasm's compiled code and the size
// of its native code, from a runtime of their own and a module of their
// own: runtimes sharing a compilation cache share the code of a module
// loaded in both, which only the first lists.
func codeSizes(t *testing.T, wasm []byte) (cost, code int64) {
	t.Helper()
	probe := newTestRuntime(t, SharedCache(Config{CacheDir: t.TempDir()}))
	m := load(t, probe, guesttest.WithCustomSection(wasm, "drop-probe"))
	cf := codeFileOf(m)
	if cf == nil {
		t.Fatal("the guest's compiled code is not listed")
	}
	cost, code = m.cost, int64(cf.end-cf.start)
	if code >= cost {
		t.Fatalf("the module's code (%d bytes) is not less than its estimated cost (%d bytes)", code, cost)
	}
	return cost, code
}

// near reports whether got is want but for a few pages per module: the
// code one compile of a module takes may be a page larger or smaller than
// another's (wazero's allocations next to it).
func near(got, want int64) bool {
	const slack = 16 << 10
	return got >= want-slack && got <= want+slack
}

// startEcho starts an instance of m, an echo guest.
func startEcho(t *testing.T, m *Module) *Instance {
	t.Helper()
	inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: "default/echo", MemoryLimit: 64 << 20, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestCodeDrop: under a budget that holds one module's compiled code and
// what another keeps besides its code, the budget first drops the resident
// code of the least recently used idle module, which stays loaded and
// runs; a wake charges it in full again and drops another's code beside
// it, but closes no module: the instance's end does, if its own code
// cannot go instead; a module with a live instance keeps its code; modules
// are closed only when what they keep besides their code does not fit;
// and a module whose code cannot be dropped is charged in full, and others
// are closed for it.
func TestCodeDrop(t *testing.T) {
	settleCode()
	wasm := guesttest.Build(t, "echo")
	variant := func(name string) []byte { return guesttest.WithCustomSection(wasm, "drop-"+name) }
	cost, code := codeSizes(t, wasm)
	kept := cost - code // what a module whose code is dropped is charged

	reg := metrics.NewKubeRegistry()
	r := newTestRuntime(t, SharedCache(Config{CacheDir: t.TempDir(), CompiledBudgetBytes: cost + kept + kept/2, Metrics: reg}))
	var loaded []*Module
	loadOne := func(name string) *Module {
		t.Helper()
		m, err := r.Load(t.Context(), variant(name))
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, m)
		return m
	}
	start := func(m *Module) *Instance { return startEcho(t, m) }
	check := func(step string, want map[*Module]dropState, wantBytes int64) {
		t.Helper()
		for m, w := range want {
			if got := dropStateOf(m); got != w {
				t.Errorf("%s: module %s is %+v, want %+v", step, m.Digest[:15], got, w)
			}
		}
		if got := r.CompiledBytes(); !near(got, wantBytes) {
			t.Errorf("%s: CompiledBytes = %d, want %d", step, got, wantBytes)
		}
	}
	full := dropState{loaded: true, listed: true}
	dropped := dropState{loaded: true, dropped: true, listed: true}

	a := loadOne("a")
	b := loadOne("b")
	check("b loaded", map[*Module]dropState{a: dropped, b: full}, cost+kept)
	acf := codeFileOf(a)
	if acf == nil || !acf.backed() {
		t.Fatal("a's dropped code is not mapped from a file")
	}
	if rss, ok := residentCode(t, acf); !ok || rss > code/10 {
		t.Errorf("a's dropped code: %d bytes resident (still its file's: %t)", rss, ok)
	}

	inst := start(a)
	check("a woken", map[*Module]dropState{a: full, b: dropped}, cost+kept)
	inst.Close(t.Context())
	check("a's instance closed", map[*Module]dropState{a: full, b: dropped}, cost+kept)
	if rss, _ := residentCode(t, acf); rss == 0 {
		t.Error("a ran none of its code back from its file")
	}

	inst = start(a)
	c := loadOne("c")
	check("c loaded while a runs", map[*Module]dropState{a: full, b: {}, c: full}, 2*cost)
	inst.Close(t.Context())
	check("a's instance closed again", map[*Module]dropState{a: dropped, c: full}, cost+kept)

	// c's mapping is no longer what was listed (as if changed behind the
	// runtime's back): it cannot be dropped, so it is charged in full and
	// modules are closed instead.
	codeFilesMu.Lock()
	delete(codeFiles, c.compiled)
	codeFilesMu.Unlock()
	if err := b.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("b warmed, c's code not droppable", map[*Module]dropState{a: {}, b: dropped, c: {loaded: true}}, cost+kept)
	start(c).Close(t.Context())
	inst = start(b)
	// No code to drop but b's, which runs: c is not closed for it.
	check("b woken", map[*Module]dropState{b: full, c: {loaded: true}}, 2*cost)
	inst.Close(t.Context())
	check("b's instance closed", map[*Module]dropState{b: dropped, c: {loaded: true}}, cost+kept)

	r.unloading.Wait() // the drops done beside wakes are counted

	// Five drops: a at b's load, b at a's wake, a at its instance's end, b
	// at its warming and at its instance's end. Two closes: b for c, a
	// when c's code could not be dropped.
	want := `
# HELP wasm_apiserver_compiled_module_code_drops_total [ALPHA] Times the budget (--compiled-module-budget) took a module's compiled code out of memory without evicting the module: its code, mapped from a file under --state-dir, is dropped, and the module's next wake maps back what it runs instead of loading the module again.
# TYPE wasm_apiserver_compiled_module_code_drops_total counter
wasm_apiserver_compiled_module_code_drops_total 5
# HELP wasm_apiserver_compiled_module_evictions_total [ALPHA] Modules that gave up their compiled code, by reason: budget (--compiled-module-budget was full) or idle (no guest of the module ran for --compiled-module-idle-unload).
# TYPE wasm_apiserver_compiled_module_evictions_total counter
wasm_apiserver_compiled_module_evictions_total{reason="budget"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wasm_apiserver_compiled_module_code_drops_total",
		"wasm_apiserver_compiled_module_evictions_total"); err != nil {
		t.Error(err)
	}

	for _, m := range loaded {
		m.Release(context.Background())
	}
	if got := r.CompiledBytes(); got != 0 {
		t.Errorf("CompiledBytes = %d with every module released, want 0", got)
	}
}

// TestCodeDrop_LargerThanBudget: a module whose compiled code is larger
// than the budget, but whose idle part (all but its native code) fits, is
// not reported over the budget, and keeps its compiled code from wake to
// wake, its native code dropped in between; one whose idle part is larger
// too is reported, with both sizes, and closed after each wake.
func TestCodeDrop_LargerThanBudget(t *testing.T) {
	settleCode()
	wasm := guesttest.Build(t, "echo")
	cost, code := codeSizes(t, wasm)
	kept := cost - code
	for i, tc := range []struct {
		name   string
		budget int64
		over   bool
	}{{"idle part fits", kept + code/2, false}, {"idle part over", kept / 2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRuntime(t, SharedCache(Config{CacheDir: t.TempDir(), CompiledBudgetBytes: tc.budget}))
			m := load(t, r, guesttest.WithCustomSection(wasm, fmt.Sprintf("drop-large-%d", i)))
			err := m.CheckCompiledBudget()
			var over *CompiledBudgetError
			if got := errors.As(err, &over); got != tc.over {
				t.Fatalf("CheckCompiledBudget = %v, want over the budget %t", err, tc.over)
			}
			if tc.over {
				if over.EstimatedBytes != cost || !near(over.IdleBytes, kept) || !strings.Contains(err.Error(), "while idle") {
					t.Errorf("CompiledBudgetError %+v (%q), want %d bytes, %d of them while idle", over, err, cost, kept)
				}
				startEcho(t, m).Close(t.Context())
				if got := dropStateOf(m); got.loaded || r.CompiledBytes() != 0 {
					t.Errorf("after a wake the module is %+v, charged %d bytes: want it closed", got, r.CompiledBytes())
				}
				return
			}
			for wake := range 3 {
				startEcho(t, m).Close(t.Context())
				if got := dropStateOf(m); got != (dropState{loaded: true, dropped: true, listed: true}) || !near(r.CompiledBytes(), kept) {
					t.Fatalf("after wake %d the module is %+v, charged %d bytes: want loaded, its code dropped, %d bytes",
						wake, got, r.CompiledBytes(), kept)
				}
			}
		})
	}
}

// TestBudgetState_LetsTheRuntimeGo: a metrics scrape that waits for the
// code files' lock, held while a module's code is written to its file,
// does not hold the runtime's lock meanwhile, which every wake takes.
func TestBudgetState_LetsTheRuntimeGo(t *testing.T) {
	r := newTestRuntime(t, Config{CompiledBudgetBytes: 1 << 30})
	codeFilesMu.Lock()
	scraped := make(chan budgetState)
	go func() { scraped <- r.budgetState() }()
	time.Sleep(50 * time.Millisecond) // the scrape waits for codeFilesMu by now
	free := r.mu.TryLock()
	if free {
		r.mu.Unlock()
	}
	codeFilesMu.Unlock()
	if s := <-scraped; s.budgetBytes != 1<<30 {
		t.Errorf("budget state %+v, want the budget", s)
	}
	if !free {
		t.Error("the scrape held the runtime's lock while it waited for the code files")
	}
}
