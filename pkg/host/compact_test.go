package host

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// burstController runs test/guests/burst, whose key "burst" makes 20 MB
// of garbage, under the suspend policy given, on h.
func burstController(t *testing.T, h *hostServices, suspend v1alpha1.SuspendSpec) *controller {
	t.Helper()
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	m, err := rt.Load(t.Context(), guesttest.Build(t, "burst"))
	if err != nil {
		t.Fatal(err)
	}
	memory := resource.MustParse("64Mi")
	wc := &v1alpha1.WasmController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "burst", UID: "uid-1", Generation: 1},
		Spec: v1alpha1.WasmControllerSpec{Suspend: suspend, Limits: v1alpha1.Limits{Memory: &memory,
			ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: 1}},
	}
	c := newController(h, wc, m, newStatusWriter(fake.NewSimpleClientset(wc), h.clock, wc))
	t.Cleanup(c.cancel)
	return c
}

// released is how many bytes compactions of trigger gave back.
func released(t *testing.T, m *hostMetrics, trigger string) float64 {
	t.Helper()
	v, err := testutil.GetCounterMetricValue(m.released.WithLabelValues(trigger))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestController_CompactsQuietGuest: a warm guest quiet for compactAfter
// after a burst is compacted once, by the host's timer; a guest that has
// not reconciled since is not compacted again.
func TestController_CompactsQuietGuest(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakeClock(start)
	h := newTestServices(testServices{clock: clock})
	h.compactAfter = 10 * time.Second
	m, err := newHostMetrics(metrics.NewKubeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h.metrics = m
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { h.timers.run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever})
	for _, key := range []string{"warm", "burst"} {
		if _, err := c.reconcile(c.ctx, wakeKey{"ns", key}, "event"); err != nil {
			t.Fatalf("reconcile %s: %v", key, err)
		}
	}
	at, ok := h.timers.nextOf(c, timerCompact)
	if want := start.Add(10 * time.Second); !ok || !at.Equal(want) {
		t.Fatalf("compaction timer at %v (pending %v), want %v", at, ok, want)
	}
	clock.Step(9 * time.Second)
	time.Sleep(50 * time.Millisecond) // a timer firing early would be seen below
	if got := released(t, m, compactIdle); got != 0 {
		t.Fatalf("compacted %v bytes before the guest was quiet for compactAfter", got)
	}

	clock.Step(time.Second)
	err = wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return released(t, m, compactIdle) > 0, nil
	})
	if err != nil {
		t.Fatal("the quiet warm guest was not compacted")
	}
	if got := released(t, m, compactIdle); got < 12<<20 {
		t.Errorf("compacting the guest after a 20 MB burst gave back %v bytes; want most of it", got)
	}
	c.done.Wait()
	if c.pool.count() != 1 || len(c.pool.idle) != 1 {
		t.Fatalf("after compaction %d instances are open, %d idle; want the one, idle", c.pool.count(), len(c.pool.idle))
	}

	// Quiet still, with no reconcile since: nothing to compact.
	c.pool.mu.Lock()
	compacted := c.pool.compactedAt
	c.pool.mu.Unlock()
	clock.Step(time.Minute)
	c.pool.compactIfQuiet()
	c.pool.mu.Lock()
	again := c.pool.compactedAt
	c.pool.mu.Unlock()
	if !again.Equal(compacted) {
		t.Errorf("a guest with no reconcile since its last compaction was compacted again")
	}
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "check"}, "event"); err != nil {
		t.Fatalf("reconcile after compaction: %v", err)
	}
}

// TestController_CompactsBeforeSnapshot: a guest whose memory grew is
// compacted before its snapshot is written, so that the snapshot does not
// store its garbage; one whose memory did not grow is not.
func TestController_CompactsBeforeSnapshot(t *testing.T) {
	h, _ := snapshotServices(t)
	m, err := newHostMetrics(metrics.NewKubeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h.metrics = m
	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true})
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "burst"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got := released(t, m, compactSnapshot); got < 12<<20 {
		t.Errorf("compacting the guest before its snapshot gave back %v bytes; want most of its 20 MB burst", got)
	}
	// Restored, the guest reconciles within its memory: it is not compacted
	// again before its next snapshot.
	before := released(t, m, compactSnapshot)
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "check"}, "event"); err != nil {
		t.Fatalf("reconcile of the restored guest: %v", err)
	}
	if got := released(t, m, compactSnapshot); got != before {
		t.Errorf("a guest whose memory did not grow was compacted before its snapshot (%v bytes)", got-before)
	}
}

// TestInstancePool_CompactionsAreBounded: compactions wait for a slot of
// the host's, so that many controllers falling quiet together do not all
// touch their guests' free memory at once; a controller that stops while
// waiting gives up; one before a snapshot, which runs on a reconcile
// worker, never waits (a guest holding the slots would stall them all).
func TestInstancePool_CompactionsAreBounded(t *testing.T) {
	h := newTestServices(testServices{})
	h.compacting = make(chan struct{}, 1)
	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever})
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "burst"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	inst, ok := c.pool.take()
	if !ok {
		t.Fatal("no idle instance")
	}
	h.compacting <- struct{}{} // another compaction runs
	done := make(chan bool)
	go func() { done <- c.pool.compact(inst, compactIdle, true) }()
	select {
	case <-done:
		t.Fatal("a compaction ran while another held the only slot")
	case <-time.After(100 * time.Millisecond):
	}
	<-h.compacting
	if open := <-done; !open {
		t.Fatal("the compaction discarded the guest")
	}

	// Before a snapshot, on a reconcile worker: no waiting for a slot.
	h.compacting <- struct{}{}
	go func() { done <- c.pool.compact(inst, compactSnapshot, false) }()
	select {
	case open := <-done:
		if !open {
			t.Fatal("a compaction skipped for want of a slot discarded the guest")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a compaction before a snapshot waited for another's slot")
	}

	go func() { done <- c.pool.compact(inst, compactIdle, true) }()
	c.cancel()
	if open := <-done; !open {
		t.Fatal("a compaction given up at the controller's stop discarded the guest")
	}
}
