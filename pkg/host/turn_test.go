package host

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// reconcile runs one reconcile of key in a turn of its own, as the
// scheduler runs a key no other follows: the suspend policy applies to its
// instance as it returns.
func (c *controller) reconcile(ctx context.Context, key wakeKey, reason string) (wasmruntime.Result, error) {
	var t turn
	defer c.endTurn(&t)
	return c.reconcileInTurn(ctx, &t, key, reason)
}

// turnController runs test/guests/counter, module m, as the WasmController
// ns/name with policy Immediate (with its snapshot when snapshot is set)
// and maxConcurrentReconciles limit, on h; its keys run once the
// scheduler does.
func turnController(t testing.TB, h *hostServices, m *wasmruntime.Module, name string, snapshot bool, limit int32) *controller {
	t.Helper()
	memory := resource.MustParse("64Mi")
	wc := &v1alpha1.WasmController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec: v1alpha1.WasmControllerSpec{Suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: snapshot},
			Limits: v1alpha1.Limits{Memory: &memory, ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second},
				MaxConcurrentReconciles: limit}},
	}
	c := newController(h, wc, m, newStatusWriter(fake.NewSimpleClientset(wc), h.clock, wc))
	c.status.status.Phase = v1alpha1.PhaseSuspended
	c.queue.sched.held = false
	t.Cleanup(c.cancel)
	return c
}

// turnServices are host services with workers, a snapshot directory and
// metrics. Their clock is fake and never moves, so that turns end by their
// keys, not by the time a loaded machine takes.
func turnServices(t testing.TB, workers int) *hostServices {
	h := newTestServices(testServices{snapshotDir: t.TempDir(), workers: workers,
		clock: clocktesting.NewFakeClock(time.Unix(1700000000, 0))})
	var err error
	if h.metrics, err = newHostMetrics(metrics.NewKubeRegistry()); err != nil {
		t.Fatal(err)
	}
	return h
}

// runScheduler runs h's scheduler until the test ends, or until the
// function it returns is called; that waits for its workers.
func runScheduler(t testing.TB, h *hostServices) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); h.scheduler.run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// waitRan waits until each of cs ran wakes reconciles and every turn
// ended.
func waitRan(t *testing.T, h *hostServices, wakes int64, cs ...*controller) {
	t.Helper()
	waitFor(t, "the keys to run", func() bool {
		for _, c := range cs {
			if c.wakes.Load() < wakes || c.queue.len() > 0 {
				return false
			}
		}
		return h.scheduler.idle()
	})
}

// resumes is how many guests were resumed: afresh (initializing or from a
// template) and from snapshots.
func resumes(t testing.TB, m *hostMetrics) (fresh, restored uint64) {
	t.Helper()
	count := func(from string) uint64 {
		n, err := testutil.GetHistogramMetricCount(m.resume.WithLabelValues(from))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return count("init") + count("template"), count("snapshot")
}

// TestController_Turns runs test/guests/counter in turns: its module is
// compiled once for every case, and each controller holds a reference.
func TestController_Turns(t *testing.T) {
	wasm := guesttest.Build(t, "counter")
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	load := func(t *testing.T) *wasmruntime.Module {
		m, err := rt.Load(t.Context(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("resume once", func(t *testing.T) { testTurnResumesOnce(t, load(t)) })
	t.Run("resident bound", func(t *testing.T) { testTurnsKeepResidentBound(t, load(t)) })
	t.Run("after a failure", func(t *testing.T) { testTurnAfterFailure(t, load(t)) })
	t.Run("stop", func(t *testing.T) { testTurnEndsOnStop(t, load) })
}

// testTurnResumesOnce: an Immediate guest woken for several keys at once,
// as by a resync, is resumed once for them and suspended (its snapshot
// written) once they ran; each key still counts as its own wake, with its
// own reason.
func testTurnResumesOnce(t *testing.T, m *wasmruntime.Module) {
	tests := []struct {
		name     string
		snapshot bool
		// what the guest reports after two turns of 6 and 3 keys: the
		// snapshot keeps its count across them.
		wantCount string
	}{
		{name: "closed", wantCount: "count=1"},
		{name: "snapshot", snapshot: true, wantCount: "count=10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := turnServices(t, 4)
			c := turnController(t, h, m, "c", tt.snapshot, 1)
			for i := range 5 {
				c.enqueue(wakeKey{"ns", fmt.Sprint("resync-", i)}, abi.ReasonResync)
			}
			c.enqueue(wakeKey{"ns", "event"}, abi.ReasonEvent)
			runScheduler(t, h)
			waitRan(t, h, 6, c)
			fresh, restored := resumes(t, h.metrics)
			if fresh+restored != 1 {
				t.Errorf("the guest was resumed %d times for 6 keys woken at once, want once", fresh+restored)
			}
			snapshots, err := testutil.GetHistogramMetricCount(h.metrics.snapshot.ObserverMetric)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]uint64{true: 1}[tt.snapshot]; snapshots != want {
				t.Errorf("%d snapshots written, want %d", snapshots, want)
			}
			wantSuspended(t, c)
			for reason, want := range map[string]float64{abi.ReasonResync: 5, abi.ReasonEvent: 1} {
				if got, _ := testutil.GetCounterMetricValue(h.metrics.wakes.WithLabelValues(c.name, reason)); got != want {
					t.Errorf("wakes for %s: %v, want %v", reason, got, want)
				}
			}

			for i := range 3 {
				c.enqueue(wakeKey{"ns", fmt.Sprint("again-", i)}, abi.ReasonEvent)
			}
			waitRan(t, h, 9, c)
			if fresh, restored := resumes(t, h.metrics); fresh+restored != 2 || tt.snapshot && restored != 1 {
				t.Errorf("after a second turn: %d fresh and %d restored resumes, want 2 in all, the second restored with a snapshot",
					fresh, restored)
			}
			wantSuspended(t, c)
			if got := count(t, c); got != tt.wantCount {
				t.Errorf("the guest reports %s, want %s", got, tt.wantCount)
			}
		})
	}
}

// wantSuspended checks that no instance of c's guest is resident, and that
// its status says so.
func wantSuspended(t *testing.T, c *controller) {
	t.Helper()
	if n := c.pool.count(); n != 0 {
		t.Errorf("%d instances resident after the turn, want none", n)
	}
	c.status.mu.Lock()
	phase, memory := c.status.status.Phase, c.status.status.MemoryBytes
	c.status.mu.Unlock()
	if phase != v1alpha1.PhaseSuspended || memory != 0 {
		t.Errorf("status: phase %s with %d bytes, want Suspended with none", phase, memory)
	}
}

// testTurnsKeepResidentBound: Immediate guests with
// maxConcurrentReconciles up to 3 on 2 workers never hold more instances
// than workers, none beyond their own limit, and none once their turns
// ended; every key runs once.
func testTurnsKeepResidentBound(t *testing.T, m *wasmruntime.Module) {
	const workers, keys = 2, 8
	h := turnServices(t, workers)
	var cs []*controller
	for i, limit := range []int32{1, 2, 3} {
		cs = append(cs, turnController(t, h, m, fmt.Sprint("c", i), false, limit))
	}
	var mu sync.Mutex
	peakAll, peak := 0, map[*controller]int{}
	sample := func(c *controller) {
		mu.Lock()
		defer mu.Unlock()
		all := 0
		for _, c := range cs {
			all += c.pool.count()
		}
		peakAll, peak[c] = max(peakAll, all), max(peak[c], c.pool.count())
	}
	for _, c := range cs {
		c.run = func(ctx context.Context, t *turn, key wakeKey, reason string) (wasmruntime.Result, error) {
			res, err := c.reconcileInTurn(ctx, t, key, reason)
			sample(c) // with the instance the turn keeps
			return res, err
		}
		for k := range keys {
			c.enqueue(wakeKey{"ns", fmt.Sprint(k)}, abi.ReasonResync)
		}
	}
	runScheduler(t, h)
	waitRan(t, h, keys, cs...)
	for _, c := range cs {
		if n := c.wakes.Load(); n != keys {
			t.Errorf("%s ran %d keys, want %d", c.name, n, keys)
		}
		if n := c.pool.count(); n != 0 {
			t.Errorf("%s: %d instances resident after its turns, want none", c.name, n)
		}
		mu.Lock()
		if limit := int(c.wc.Spec.Limits.MaxConcurrentReconciles); peak[c] > limit {
			t.Errorf("%s: %d instances resident at once, more than its limit %d", c.name, peak[c], limit)
		}
		mu.Unlock()
	}
	if peakAll > workers {
		t.Errorf("%d Immediate instances resident at once, more than the %d workers", peakAll, workers)
	}
	// A turn ends only when its controller has no key left (8 is below
	// maxTurnKeys, and the clock does not move), so a controller has at most
	// one turn per worker.
	if fresh, restored := resumes(t, h.metrics); fresh+restored > workers*uint64(len(cs)) {
		t.Errorf("%d resumes for %d keys of %d controllers, want at most %d: one per turn", fresh+restored,
			keys*len(cs), len(cs), workers*len(cs))
	}
}

// testTurnAfterFailure: a reconcile that closes the instance (here its
// context is done, as when it times out) fails alone, with its retry; the
// turn's next key starts another instance, and none is left resident.
func testTurnAfterFailure(t *testing.T, m *wasmruntime.Module) {
	h := turnServices(t, 1)
	c := turnController(t, h, m, "c", false, 1)
	c.run = func(ctx context.Context, t *turn, key wakeKey, reason string) (wasmruntime.Result, error) {
		if key.Name == "fail" {
			done, cancel := context.WithCancel(ctx)
			cancel()
			ctx = done
		}
		return c.reconcileInTurn(ctx, t, key, reason)
	}
	for _, k := range []string{"a", "fail", "b"} {
		c.enqueue(wakeKey{"ns", k}, abi.ReasonEvent)
	}
	runScheduler(t, h)
	waitRan(t, h, 3, c)
	if fresh, _ := resumes(t, h.metrics); fresh != 2 {
		t.Errorf("%d resumes, want 2: one for the turn, one after the failed reconcile closed its instance", fresh)
	}
	wantSuspended(t, c)
	if c.failures.Load() != 0 {
		t.Errorf("%d failures in a row, want the last key's success to reset them", c.failures.Load())
	}
	if _, ok := h.timers.next(c); !ok {
		t.Error("the failed key has no retry")
	}
}

// testTurnEndsOnStop: a turn cut short by the controller's stop or the
// server's takes no other key and releases the instance it kept before the
// stop returns.
func testTurnEndsOnStop(t *testing.T, load func(*testing.T) *wasmruntime.Module) {
	tests := []struct {
		name string
		// stop starts stopping, in the middle of the key "b", which the
		// guest ran, and returns once the turn can see it; stopped is
		// closed when the stop returned.
		stop func(h *hostServices, c *controller, stopScheduler func(), stopped chan struct{})
		// wantWakes counts "b" when it ran before a server's stop, not a
		// controller's: that reports nothing.
		wantWakes int64
	}{
		{name: "controller stops", wantWakes: 1, stop: func(_ *hostServices, c *controller, _ func(), stopped chan struct{}) {
			go func() { defer close(stopped); c.stop() }()
			<-c.ctx.Done()
		}},
		{name: "server stops", wantWakes: 2, stop: func(h *hostServices, _ *controller, stopScheduler func(), stopped chan struct{}) {
			go func() { defer close(stopped); stopScheduler() }()
			for {
				h.scheduler.mu.Lock()
				done := h.scheduler.done
				h.scheduler.mu.Unlock()
				if done {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := turnServices(t, 1)
			c := turnController(t, h, load(t), "c", true, 1) // its stop releases the module
			stopped := make(chan struct{})
			// The end of the turn is slow: a stop that did not wait for it
			// would return with the instance still resident.
			h.scheduler.endTurn = func(c *controller, t *turn) {
				time.Sleep(50 * time.Millisecond)
				c.endTurn(t)
			}
			stopScheduler := runScheduler(t, h)
			c.run = func(ctx context.Context, t *turn, key wakeKey, reason string) (wasmruntime.Result, error) {
				res, err := c.reconcileInTurn(ctx, t, key, reason)
				if key.Name == "b" {
					tt.stop(h, c, stopScheduler, stopped)
				}
				return res, err
			}
			for _, k := range []string{"a", "b", "c"} {
				c.enqueue(wakeKey{"ns", k}, abi.ReasonEvent)
			}
			select {
			case <-stopped:
			case <-time.After(time.Minute):
				t.Fatal("the stop did not return")
			}
			if n := c.pool.count(); n != 0 {
				t.Errorf("%d instances resident once stopped, want none", n)
			}
			if n := c.wakes.Load(); n != tt.wantWakes {
				t.Errorf("%d reconciles counted, want %d: the turn took a key after the stop", n, tt.wantWakes)
			}
		})
	}
}
