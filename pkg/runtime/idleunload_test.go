package runtime

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
)

// waitUnloaded waits until m has given up its compiled code.
func waitUnloaded(t *testing.T, m *Module) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return !m.Resident(), nil })
	if err != nil {
		t.Fatalf("the module's compiled code is still resident: %v", err)
	}
}

// TestRuntime_CompiledIdleUnload: with Config.CompiledIdleUnload, a module
// with no live instance for that long gives up its compiled code, whatever
// the budget; a live instance keeps it however long it lives; the next
// wake loads it again; each unload is counted and reported to the
// runtime's owner.
func TestRuntime_CompiledIdleUnload(t *testing.T) {
	const idle = 20 * time.Millisecond
	reg := metrics.NewKubeRegistry()
	var unloaded atomic.Int32
	r := newTestRuntime(t, Config{CacheDir: t.TempDir(), CompiledIdleUnload: idle, Metrics: reg,
		IdleUnloaded: func() { unloaded.Add(1) }})
	m := load(t, r, smallModule(1))

	// Loaded and never woken: the clock runs from the load.
	waitUnloaded(t, m)
	if got := r.CompiledBytes(); got != 0 {
		t.Errorf("CompiledBytes = %d after the unload, want 0", got)
	}

	// A wake loads it again, and an instance alive for many times the
	// idle time keeps it.
	if _, _, err := m.acquire(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * idle)
	if !m.Resident() {
		t.Fatal("the compiled code of a module with a live instance was unloaded")
	}
	m.instanceDone(t.Context())
	waitUnloaded(t, m)
	// The owner hears of each unload once it is done (and counted).
	err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return unloaded.Load() >= 2, nil })
	if err != nil {
		t.Errorf("Config.IdleUnloaded called %d times after two unloads", unloaded.Load())
	}

	want := `
# HELP wasm_apiserver_compiled_module_evictions_total [ALPHA] Modules that gave up their compiled code, by reason: budget (--compiled-module-budget was full) or idle (no guest of the module ran for --compiled-module-idle-unload).
# TYPE wasm_apiserver_compiled_module_evictions_total counter
wasm_apiserver_compiled_module_evictions_total{reason="idle"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wasm_apiserver_compiled_module_evictions_total"); err != nil {
		t.Error(err)
	}
	if got := unloaded.Load(); got != 2 {
		t.Errorf("Config.IdleUnloaded called %d times, want once per unload (2)", got)
	}
}

// TestRuntime_UnloadIfIdle: the idle clock counts from the module's last
// use, not from when its timer was set, and nothing runs the clock of a
// runtime without CompiledIdleUnload, nor after its module is released.
func TestRuntime_UnloadIfIdle(t *testing.T) {
	t.Run("used since the timer was set", func(t *testing.T) {
		r := newTestRuntime(t, Config{CompiledIdleUnload: time.Hour})
		m := load(t, r, smallModule(1))
		r.unloadIfIdle(m) // the timer ran out early, or a use came after it was set
		if !m.Resident() {
			t.Fatal("unloaded a module used less than CompiledIdleUnload ago")
		}
		r.mu.Lock()
		m.idleSince = time.Now().Add(-2 * time.Hour)
		r.mu.Unlock()
		r.unloadIfIdle(m)
		if m.Resident() {
			t.Fatal("a module idle for longer than CompiledIdleUnload kept its code")
		}
	})
	t.Run("with a live instance", func(t *testing.T) {
		r := newTestRuntime(t, Config{CompiledIdleUnload: time.Hour})
		m := load(t, r, smallModule(1))
		if _, _, err := m.acquire(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		defer m.instanceDone(context.Background())
		r.mu.Lock()
		m.idleSince = time.Now().Add(-2 * time.Hour)
		r.mu.Unlock()
		r.unloadIfIdle(m)
		if !m.Resident() {
			t.Fatal("unloaded a module with a live instance")
		}
	})
	t.Run("off", func(t *testing.T) {
		r := newTestRuntime(t, Config{})
		m := load(t, r, smallModule(1))
		if _, _, err := m.acquire(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		m.instanceDone(t.Context())
		r.mu.Lock()
		defer r.mu.Unlock()
		if m.idleUnload != nil {
			t.Error("a runtime without CompiledIdleUnload set an idle timer")
		}
	})
	t.Run("released", func(t *testing.T) {
		r := newTestRuntime(t, Config{CompiledIdleUnload: time.Hour})
		m, err := r.Load(t.Context(), smallModule(1))
		if err != nil {
			t.Fatal(err)
		}
		m.Release(t.Context())
		r.mu.Lock()
		stopped := m.idleUnload != nil && !m.idleUnload.Stop()
		r.mu.Unlock()
		if !stopped {
			t.Error("releasing the module left its idle timer running")
		}
		r.unloadIfIdle(m) // a timer that fired as it was released
	})
}

// TestRuntime_CloseWaitsForIdleUnload: an idle unload runs on its timer's
// goroutine, which Close waits for once it has begun, so that nothing of
// the runtime's runs after Close returns.
func TestRuntime_CloseWaitsForIdleUnload(t *testing.T) {
	entered, proceed := make(chan struct{}), make(chan struct{})
	r, err := New(t.Context(), Config{CacheDir: t.TempDir(), CompiledIdleUnload: time.Millisecond,
		IdleUnloaded: func() { close(entered); <-proceed }})
	if err != nil {
		t.Fatal(err)
	}
	load(t, r, smallModule(1))
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- r.Close(context.Background()) }()
	select {
	case <-closed:
		t.Fatal("Close returned while an idle unload was under way")
	case <-time.After(100 * time.Millisecond):
	}
	close(proceed)
	if err := <-closed; err != nil {
		t.Error(err)
	}
}
