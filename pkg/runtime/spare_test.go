package runtime

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// logLines returns a logger and what it logged, one entry a line.
func logLines() (logr.Logger, func() string) {
	c := &capture{}
	return c.logger(), func() string { return strings.Join(c.all(), "\n") }
}

// closeSaved saves inst's snapshot to a file, closes inst and waits for the
// spare its close builds; it returns the file.
func closeSaved(t *testing.T, r *Runtime, inst *Instance) string {
	t.Helper()
	snap := filepath.Join(t.TempDir(), "snap")
	if _, err := inst.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	inst.Close(t.Context())
	r.sparing.Wait()
	return snap
}

// guestSays returns the message of the guest's failed reconcile of key.
func guestSays(t *testing.T, inst *Instance, key string) string {
	t.Helper()
	_, err := inst.Reconcile(t.Context(), Request{Namespace: "ns", Name: key})
	var ge *GuestError
	if !errors.As(err, &ge) {
		t.Fatalf("Reconcile(%s) = %v, want the guest's report", key, err)
	}
	return ge.Message
}

// spareCount returns how many spares r holds, built or being built.
func (r *Runtime) spareCountNow() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spareCount
}

// newSpareTestRuntime returns a runtime with spares, templates and memory
// images, closed at the end of the test.
func newSpareTestRuntime(t *testing.T, idle time.Duration) *Runtime {
	t.Helper()
	return newTestRuntime(t, SharedCache(Config{ImageDir: t.TempDir(), SpareIdle: idle, TemplateBudgetBytes: DefaultTemplateBudgetBytes}))
}

// TestSpare_TakenByTheNextWake checks that closing a guest builds a spare
// that the next restore of a snapshot file, or start from a template,
// configured the same takes, and that the guest then runs as its own
// controller: its memory is the snapshot's, its clock continues the
// snapshot's reading, its log lines and host calls are its controller's,
// and its memory limit holds. An instance configured otherwise (another
// environment, limit or, for a module that reads its name at init,
// another name) builds its own.
func TestSpare_TakenByTheNextWake(t *testing.T) {
	reg := metrics.NewKubeRegistry()
	r := newTestRuntime(t, SharedCache(Config{ImageDir: t.TempDir(), SpareIdle: time.Minute, TemplateBudgetBytes: DefaultTemplateBudgetBytes, Metrics: reg}))
	m, err := r.Load(t.Context(), guesttest.Build(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	cfg := InstanceConfig{Name: "ns/a", Tenant: "ns", MemoryLimit: 64 << 20, Env: map[string]string{"K": "v"}}

	first, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Reconcile(t.Context(), Request{Namespace: "ns", Name: "x"}); err != nil { // count=1
		t.Fatal(err)
	}
	// The snapshot's clock reads an hour ahead of the runtime's: the
	// restored guest must continue from there, not from the spare's.
	first.clockOffset = int64(time.Hour)
	snap := closeSaved(t, r, first)
	if n := r.spareCountNow(); n != 1 {
		t.Fatalf("%d spares after a close, want 1", n)
	}

	logger, logged := logLines()
	bound := cfg
	bound.Name, bound.Logger = "ns/b", logger // same argument: the module shares its init
	restored, err := m.RestoreFile(t.Context(), bound, snap)
	if err != nil {
		t.Fatal(err)
	}
	if !restored.fromSpare {
		t.Fatal("the restore built an instance, want it to take the spare")
	}
	if got, want := guestSays(t, restored, "whoami"), "controller=ns/b args=wasm-controller"; got != want {
		t.Errorf("restored guest says %q, want %q", got, want)
	}
	if got := guestSays(t, restored, "report"); got != "count=3" {
		t.Errorf("restored guest says %q, want count=3 (the snapshot's 1, and two reconciles)", got)
	}
	msg := guestSays(t, restored, "clock")
	_, since, _ := strings.Cut(msg, "since=")
	if ns, err := strconv.ParseInt(since, 10, 64); err != nil || ns < int64(time.Hour) {
		t.Errorf("guest clock report %q, want at least the snapshot's hour since its init", msg)
	}
	if got := logged(); !strings.Contains(got, "counted 2") {
		t.Errorf("the controller's logger got %q, want the guest's log lines", got)
	}
	if mem := restored.memoryBuf; mem == nil || mem.max != cfg.MemoryLimit {
		t.Errorf("restored memory %+v, want a mapping of the limit %d", mem, cfg.MemoryLimit)
	}
	restored.Close(t.Context())
	r.sparing.Wait()

	// Started from a template (the first instance kept one), another
	// controller of the namespace takes the spare too.
	inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: "ns/c", Tenant: "ns", MemoryLimit: cfg.MemoryLimit, Env: cfg.Env})
	if err != nil {
		t.Fatal(err)
	}
	if !inst.FromTemplate() || !inst.fromSpare {
		t.Errorf("fromTemplate %v, fromSpare %v; want both", inst.FromTemplate(), inst.fromSpare)
	}
	if got := guestSays(t, inst, "report"); got != "count=1" {
		t.Errorf("guest started from the template says %q, want count=1", got)
	}
	inst.Close(t.Context())
	r.sparing.Wait()
	want := `
# HELP wasm_apiserver_spare_instances [ALPHA] Instances of modules built ahead of a wake, kept or being built (--spare-instance-idle).
# TYPE wasm_apiserver_spare_instances gauge
wasm_apiserver_spare_instances 1
# HELP wasm_apiserver_spare_instances_taken_total [ALPHA] Wakes that took an instance of their module built ahead of them (--spare-instance-idle) instead of instantiating it: restores of a snapshot and starts from a template.
# TYPE wasm_apiserver_spare_instances_taken_total counter
wasm_apiserver_spare_instances_taken_total 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wasm_apiserver_spare_instances", "wasm_apiserver_spare_instances_taken_total"); err != nil {
		t.Error(err)
	}

	for _, other := range []struct {
		name string
		cfg  InstanceConfig
	}{
		{name: "another environment", cfg: InstanceConfig{Name: "ns/a", Tenant: "ns", MemoryLimit: cfg.MemoryLimit, Env: map[string]string{"K": "w"}}},
		{name: "another limit", cfg: InstanceConfig{Name: "ns/a", Tenant: "ns", MemoryLimit: 32 << 20, Env: cfg.Env}},
		{name: "another namespace", cfg: InstanceConfig{Name: "other/a", Tenant: "other", MemoryLimit: cfg.MemoryLimit, Env: cfg.Env}},
	} {
		t.Run(other.name, func(t *testing.T) {
			inst, err := m.RestoreFile(t.Context(), other.cfg, snap)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(t.Context())
			if inst.fromSpare {
				t.Error("took a spare built for another configuration")
			}
			if got := guestSays(t, inst, "report"); got != "count=2" {
				t.Errorf("restored guest says %q, want count=2", got)
			}
		})
	}
}

// TestSpare_StdoutIsTheControllers checks that a guest woken in a spare
// writes its stdout and stderr lines to its own controller's log.
func TestSpare_StdoutIsTheControllers(t *testing.T) {
	r := newSpareTestRuntime(t, time.Minute)
	m, err := r.Load(t.Context(), guesttest.Build(t, "klog"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	firstLogger, firstLogged := logLines()
	cfg := InstanceConfig{Name: "ns/a", Tenant: "ns", MemoryLimit: 64 << 20, Logger: firstLogger}
	first, err := m.Instantiate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	snap := closeSaved(t, r, first)

	logger, logged := logLines()
	cfg.Name, cfg.Logger = "ns/b", logger
	inst, err := m.RestoreFile(t.Context(), cfg, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(t.Context())
	if !inst.fromSpare {
		t.Fatal("the restore built an instance, want it to take the spare")
	}
	if _, err := inst.Reconcile(t.Context(), Request{Namespace: "d", Name: "x", Reason: "event"}); err != nil {
		t.Fatal(err)
	}
	if got := logged(); !strings.Contains(got, `"severity"="warning"`) || !strings.Contains(got, "key d/x is a test") {
		t.Errorf("the controller's log has no klog line of the guest's stderr:\n%s", got)
	}
	if got := firstLogged(); strings.Contains(got, "d/x") {
		t.Errorf("the first controller's log has the second's lines:\n%s", got)
	}
}

// TestSpare_Bounds checks what spares hold and for how long: a spare
// unused for SpareIdle is closed, release and Close close the module's
// spares before its code, and a module with a start section, which would
// run guest code to build one, has none. No memory mapping is left.
func TestSpare_Bounds(t *testing.T) {
	cfg := InstanceConfig{Name: "ns/a", Tenant: "ns", MemoryLimit: 64 << 20}
	wasm := guesttest.Build(t, "counter")
	closeOne := func(t *testing.T, r *Runtime, m *Module) {
		t.Helper()
		inst, err := m.Instantiate(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		inst.Close(t.Context())
		r.sparing.Wait()
	}
	t.Run("idle", func(t *testing.T) {
		r := newSpareTestRuntime(t, 50*time.Millisecond)
		m := load(t, r, wasm)
		closeOne(t, r, m)
		deadline := time.Now().Add(10 * time.Second)
		for r.spareCountNow() != 0 || r.mappings.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d spares, %d mappings a while after SpareIdle; want none", r.spareCountNow(), r.mappings.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("release", func(t *testing.T) {
		r := newSpareTestRuntime(t, time.Minute)
		m, err := r.Load(t.Context(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		closeOne(t, r, m)
		if r.spareCountNow() != 1 {
			t.Fatal("no spare after a close")
		}
		m.Release(t.Context())
		if n, live := r.spareCountNow(), r.mappings.Load(); n != 0 || live != 0 {
			t.Errorf("%d spares, %d mappings after release; want none", n, live)
		}
	})
	t.Run("close", func(t *testing.T) {
		r, err := New(t.Context(), SharedCache(Config{SpareIdle: time.Minute}))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Load(t.Context(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		closeOne(t, r, m)
		if err := r.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n, live := r.spareCountNow(), r.mappings.Load(); n != 0 || live != 0 {
			t.Errorf("%d spares, %d mappings after Close; want none", n, live)
		}
	})
	t.Run("nothing to map", func(t *testing.T) {
		// Without templates, an instance that initialized leaves no
		// spare: the next start initializes too. One restored from a
		// snapshot file leaves one for the next restore.
		r := newTestRuntime(t, SharedCache(Config{ImageDir: t.TempDir(), SpareIdle: time.Minute}))
		m := load(t, r, wasm)
		inst, err := m.Instantiate(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		snap := closeSaved(t, r, inst)
		if n := r.spareCountNow(); n != 0 {
			t.Errorf("%d spares after an instance that initialized, want 0", n)
		}
		if inst, err = m.RestoreFile(t.Context(), cfg, snap); err != nil {
			t.Fatal(err)
		}
		inst.Close(t.Context())
		r.sparing.Wait()
		if n := r.spareCountNow(); n != 1 {
			t.Errorf("%d spares after a restored instance, want 1", n)
		}
	})
	t.Run("start section", func(t *testing.T) {
		tm := driverModule()
		tm.funcs = append(tm.funcs, testFunc{})
		tm.start = uint32(len(driverImports)) + 2 + 1
		r := newSpareTestRuntime(t, time.Minute)
		m := loadTest(t, r, tm)
		closeOne(t, r, m)
		if n := r.spareCountNow(); n != 0 {
			t.Errorf("%d spares of a module with a start section, want 0", n)
		}
	})
	t.Run("at most maxSpares", func(t *testing.T) {
		r := newSpareTestRuntime(t, time.Minute)
		m := load(t, r, wasm)
		for i := range maxSpares + 3 {
			c := cfg
			c.Env = map[string]string{"I": strings.Repeat("x", i)}
			inst, err := m.Instantiate(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			inst.Close(t.Context())
		}
		r.sparing.Wait()
		if n := r.spareCountNow(); n != maxSpares {
			t.Errorf("%d spares, want maxSpares (%d)", n, maxSpares)
		}
	})
}
