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
// of garbage, under the suspend policy given, with at most concurrency
// reconciles at once, on h.
func burstController(t testing.TB, h *hostServices, suspend v1alpha1.SuspendSpec, concurrency int32) *controller {
	t.Helper()
	return burstControllerCached(t, filepath.Join(t.TempDir(), "cache"), h, suspend, concurrency)
}

// burstControllerCached is burstController compiling the guest into
// cacheDir, so that the subtests sharing it compile it once.
func burstControllerCached(t testing.TB, cacheDir string, h *hostServices, suspend v1alpha1.SuspendSpec, concurrency int32) *controller {
	t.Helper()
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: cacheDir})
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
			ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: concurrency}},
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

	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever}, 1)
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

// TestController_CompactsBeforeSnapshot: a guest whose memory grew, or
// whose last snapshot stored twice what the one after its last compaction
// did, is compacted before its snapshot is written, so that the snapshot
// does not store its garbage; one whose memory and snapshot did not grow
// is not.
func TestController_CompactsBeforeSnapshot(t *testing.T) {
	h, _ := snapshotServices(t)
	m, err := newHostMetrics(metrics.NewKubeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h.metrics = m
	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true}, 1)
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

	// Garbage within the memory the burst grew does not grow it, but
	// that snapshot stores it; the next snapshot compacts first, and
	// stores the live set again.
	snapshotBytes := func() int64 {
		c.pool.mu.Lock()
		defer c.pool.mu.Unlock()
		return c.pool.lastSnapshot
	}
	small := snapshotBytes()
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "garbage"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got := released(t, m, compactSnapshot); got != before {
		t.Fatalf("garbage within the guest's memory was compacted before its snapshot (%v bytes); the test needs it stored", got-before)
	}
	if got := snapshotBytes(); got < small+2<<20 || got < 2*small {
		t.Fatalf("snapshot after garbage within the memory: %d bytes, after the compacted one %d; want the garbage stored", got, small)
	}
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "check"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got := released(t, m, compactSnapshot); got < before+2<<20 {
		t.Errorf("before the snapshot after one that stored garbage, compaction gave back %v bytes; want the garbage's pages", got-before)
	}
	if got := snapshotBytes(); got > 2*small {
		t.Errorf("snapshot after the compaction: %d bytes, want about the %d after the first", got, small)
	}
	before = released(t, m, compactSnapshot)
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "check"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got := released(t, m, compactSnapshot); got != before {
		t.Errorf("a guest whose snapshot did not grow was compacted before it (%v bytes)", got-before)
	}
}

// TestInstancePool_CompactionsAreBounded: compactions wait for a slot of
// the host's, so that many controllers falling quiet together do not all
// touch their guests' free memory at once, and keep the instance idle
// while they wait, so that a wake meanwhile runs on it rather than start
// another; a controller that stops while waiting gives up; one before a
// snapshot, which runs on a reconcile worker, never waits (a guest holding
// the slots would stall them all).
func TestInstancePool_CompactionsAreBounded(t *testing.T) {
	h := newTestServices(testServices{})
	h.compacting = make(chan struct{}, 1)
	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever}, 1)
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "burst"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	h.compacting <- struct{}{} // another compaction runs
	done := make(chan struct{})
	go func() { c.pool.compactIfQuiet(); close(done) }()
	select {
	case <-done:
		t.Fatal("a compaction ran while another held the only slot")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "check"}, "event"); err != nil {
		t.Fatalf("reconcile while the compaction waits for a slot: %v", err)
	}
	if n := c.pool.count(); n != 1 {
		t.Fatalf("a wake while the compaction waited for a slot left %d instances open; want the one", n)
	}
	<-h.compacting
	<-done
	if c.pool.count() != 1 || len(c.pool.idle) != 1 {
		t.Fatalf("after compaction %d instances are open, %d idle; want the one, idle", c.pool.count(), len(c.pool.idle))
	}

	// Before a snapshot, on a reconcile worker: no waiting for a slot.
	h.compacting <- struct{}{}
	if release, ok := c.pool.compactionSlot(false); ok {
		release()
		t.Fatal("a compaction before a snapshot got a slot another held")
	}

	compacted := make(chan bool)
	go func() { compacted <- c.pool.compactIdleInstance() }()
	c.cancel()
	if <-compacted {
		t.Fatal("a compaction waiting for a slot ran after the controller's stop")
	}
	if c.pool.count() != 1 || len(c.pool.idle) != 1 {
		t.Fatalf("a compaction given up at the stop left %d instances open, %d idle; want the one, idle", c.pool.count(), len(c.pool.idle))
	}
}
