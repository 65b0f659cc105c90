package host

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// started is how many instances of guests started afresh.
func started(t *testing.T, m *hostMetrics) uint64 {
	t.Helper()
	fresh, _ := resumes(t, m)
	return fresh
}

// TestInstancePool_WakeDuringCompaction: a wake that finds no idle
// instance while an idle compaction holds one waits for it rather than
// start another (which would not restore the guest's snapshot either), and
// starts one once the compaction failed and discarded it; it gives up when
// its reconcile is cancelled or the controller stops; with another
// instance idle, it does not wait.
func TestInstancePool_WakeDuringCompaction(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int32
		fail        bool // the compaction fails
		cancel      bool // the wake's context is cancelled while it waits
		stop        bool // the controller stops while the wake waits
		wantWait    bool
		wantErr     bool
		wantStarted uint64
		wantOpen    int
	}{
		{name: "waits for the compacted instance", concurrency: 1, wantWait: true, wantStarted: 1, wantOpen: 1},
		{name: "starts afresh after a failed compaction", concurrency: 1, fail: true, wantWait: true, wantStarted: 2, wantOpen: 1},
		{name: "takes another idle instance", concurrency: 2, wantStarted: 2, wantOpen: 2},
		{name: "cancelled while waiting", concurrency: 1, cancel: true, wantWait: true, wantErr: true, wantStarted: 1, wantOpen: 1},
		{name: "controller stops while waiting", concurrency: 1, stop: true, wantWait: true, wantErr: true, wantStarted: 1, wantOpen: 1},
	}
	cacheDir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestServices(testServices{})
			h.compacting = make(chan struct{}, maxCompactions)
			m, err := newHostMetrics(metrics.NewKubeRegistry())
			if err != nil {
				t.Fatal(err)
			}
			h.metrics = m
			c := burstControllerCached(t, cacheDir, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever}, tt.concurrency)
			var insts []*wasmruntime.Instance
			for range tt.concurrency {
				inst, err := c.pool.acquire(c.ctx)
				if err != nil {
					t.Fatalf("starting the guest: %v", err)
				}
				insts = append(insts, inst)
			}
			for _, inst := range insts {
				c.pool.release(inst)
			}

			began, proceed := holdCompaction(c.pool, tt.fail)
			compacted := make(chan struct{})
			go func() { c.pool.compactIdleInstance(); close(compacted) }()
			<-began

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			woke := make(chan error, 1)
			go func() {
				_, err := c.reconcile(ctx, wakeKey{"ns", "check"}, "event")
				woke <- err
			}()
			var wakeErr error
			waited := false
			select {
			case wakeErr = <-woke:
			case <-time.After(200 * time.Millisecond):
				waited = true
			}
			if waited != tt.wantWait {
				t.Fatalf("the wake waited for the compaction: %v, want %v (error %v)", waited, tt.wantWait, wakeErr)
			}
			switch {
			case tt.cancel:
				cancel()
			case tt.stop:
				c.cancel()
			}
			if tt.cancel || tt.stop {
				wakeErr = receive(t, woke, "the wake cancelled while waiting for the compaction did not return")
			}
			close(proceed)
			<-compacted
			if waited && !tt.cancel && !tt.stop {
				wakeErr = receive(t, woke, "the wake waiting for the compaction did not return after it")
			}
			if (wakeErr != nil) != tt.wantErr {
				t.Fatalf("wake error %v, want error %v", wakeErr, tt.wantErr)
			}
			if got := started(t, m); got != tt.wantStarted {
				t.Errorf("%d instances started, want %d", got, tt.wantStarted)
			}
			if got := c.pool.count(); got != tt.wantOpen || len(c.pool.idle) != tt.wantOpen {
				t.Errorf("%d instances open, %d idle; want %d, idle", got, len(c.pool.idle), tt.wantOpen)
			}
		})
	}
}

// receive returns what ch sends, failing the test with msg if it sends
// nothing within a while.
func receive(t *testing.T, ch <-chan error, msg string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal(msg)
		return nil
	}
}

// TestInstancePool_SuspendDuringCompaction: suspending the idle instances
// while one is compacted suspends that one too, once its compaction is
// over, rather than leave it resident after the suspend.
func TestInstancePool_SuspendDuringCompaction(t *testing.T) {
	h := newTestServices(testServices{})
	h.compacting = make(chan struct{}, maxCompactions)
	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever}, 1)
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "burst"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	began, proceed := holdCompaction(c.pool, false)
	compacted := make(chan struct{})
	go func() { c.pool.compactIdleInstance(); close(compacted) }()
	<-began

	suspended := make(chan error, 1)
	go func() { c.pool.suspendIdle(); suspended <- nil }()
	time.Sleep(100 * time.Millisecond) // a suspend not waiting for the compaction returns meanwhile
	close(proceed)
	<-compacted
	_ = receive(t, suspended, "suspending the idle instances did not return after the compaction")
	if n := c.pool.count(); n != 0 {
		t.Fatalf("%d instances open after suspending the idle ones during a compaction; want none", n)
	}
}

// TestInstancePool_WakeDuringSuspend: a wake that finds no idle instance
// while the guest's idle instance is being suspended waits for its
// snapshot and restores it, rather than start the guest afresh while the
// instance is still resident, which would lose its state.
func TestInstancePool_WakeDuringSuspend(t *testing.T) {
	h, m := measuredSnapshotServices(t)
	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle,
		IdleAfter: &metav1.Duration{Duration: time.Hour}, Snapshot: true}, 1)
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "burst"}, "event"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	// The guest's memory grew: it is compacted before its snapshot, which
	// holds the suspend there.
	began, proceed := holdCompaction(c.pool, false)
	suspended := make(chan error, 1)
	go func() { c.pool.suspendIdle(); suspended <- nil }()
	<-began

	woke := wakeWaiting(t, c)
	close(proceed)
	_ = receive(t, suspended, "the suspend did not return")
	restoredAfterWait(t, m, woke)
}

// TestInstancePool_WakeDuringReleaseSuspend: with reconciles running side
// by side, a wake that finds no idle instance while the instance a
// reconcile just released is being suspended waits for its snapshot and
// restores it, rather than start the guest afresh and lose its state.
func TestInstancePool_WakeDuringReleaseSuspend(t *testing.T) {
	h, m := measuredSnapshotServices(t)
	c := burstController(t, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true}, 2)
	// The burst grows the guest's memory: it is compacted before its
	// snapshot, which holds the suspend after the reconcile there.
	began, proceed := holdCompaction(c.pool, false)
	first := make(chan error, 1)
	go func() {
		_, err := c.reconcile(t.Context(), wakeKey{"ns", "burst"}, "event")
		first <- err
	}()
	<-began

	woke := wakeWaiting(t, c)
	close(proceed)
	if err := receive(t, first, "the first reconcile did not return"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	restoredAfterWait(t, m, woke)
}

// holdCompaction makes the pool's next compaction of a guest close began,
// then wait for proceed to be closed before it compacts the guest, or,
// with fail, closes it as a guest that trapped.
func holdCompaction(p *instancePool, fail bool) (began, proceed chan struct{}) {
	began, proceed = make(chan struct{}), make(chan struct{})
	p.compactGuest = func(ctx context.Context, inst *wasmruntime.Instance) (uint64, error) {
		close(began)
		<-proceed
		if fail {
			inst.Close(ctx)
			return 0, errors.New("guest trapped")
		}
		return inst.Compact(ctx)
	}
	return began, proceed
}

// measuredSnapshotServices returns host services that keep snapshots, and
// the metrics they count wakes in.
func measuredSnapshotServices(t *testing.T) (*hostServices, *hostMetrics) {
	t.Helper()
	h, _ := snapshotServices(t)
	m, err := newHostMetrics(metrics.NewKubeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h.metrics = m
	return h, m
}

// wakeWaiting wakes c for a key and checks that the wake waits for the
// suspend under way; its error arrives on the channel once it returns.
func wakeWaiting(t *testing.T, c *controller) <-chan error {
	t.Helper()
	woke := make(chan error, 1)
	go func() {
		_, err := c.reconcile(t.Context(), wakeKey{"ns", "check"}, "event")
		woke <- err
	}()
	select {
	case err := <-woke:
		t.Fatalf("the wake did not wait for the suspend under way (error %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	return woke
}

// restoredAfterWait checks that the wake on woke returned, and that the
// guest was started afresh once and restored once from its snapshot.
func restoredAfterWait(t *testing.T, m *hostMetrics, woke <-chan error) {
	t.Helper()
	if err := receive(t, woke, "the wake waiting for the suspend did not return after it"); err != nil {
		t.Fatalf("wake: %v", err)
	}
	restored, err := testutil.GetHistogramMetricCount(m.resume.WithLabelValues("snapshot"))
	if err != nil {
		t.Fatal(err)
	}
	if got := started(t, m); got != 1 || restored != 1 {
		t.Errorf("the guest started afresh %d times and was restored %d times; want once each", got, restored)
	}
}
