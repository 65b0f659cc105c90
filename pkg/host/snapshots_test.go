package host

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/record"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// counterModule builds test/guests/counter and loads it: a guest that
// counts its reconciles in a Go global and reports the count as the error
// of a reconcile of the key "report".
func counterModule(t testing.TB) *wasmruntime.Module {
	t.Helper()
	wasm := guesttest.Build(t, "counter")
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	m, err := rt.Load(t.Context(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// snapshotServices are host services with a snapshot directory and an
// event recorder.
func snapshotServices(t testing.TB) (*hostServices, *record.FakeRecorder) {
	events := record.NewFakeRecorder(100)
	return newTestServices(testServices{snapshotDir: t.TempDir(), recorder: events, workers: 4}), events
}

func counterController(t testing.TB, h *hostServices, m *wasmruntime.Module, generation int64, suspend v1alpha1.SuspendSpec) *controller {
	t.Helper()
	memory := resource.MustParse("64Mi")
	wc := &v1alpha1.WasmController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "counter", UID: types.UID("uid-1"), Generation: generation},
		Spec: v1alpha1.WasmControllerSpec{Suspend: suspend, Limits: v1alpha1.Limits{Memory: &memory,
			ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: 3}},
	}
	c := newController(h, wc, m, newStatusWriter(fake.NewSimpleClientset(wc), h.clock, wc))
	c.pool.removeOtherSnapshots()
	t.Cleanup(c.cancel)
	return c
}

// count returns the guest's count of reconciles, this one included.
func count(t *testing.T, c *controller) string {
	t.Helper()
	_, err := c.reconcile(c.ctx, wakeKey{"ns", "report"}, "event")
	if err == nil || !strings.HasPrefix(err.Error(), "count=") {
		t.Fatalf("report: %v, want count=N", err)
	}
	return err.Error()
}

func TestController_Snapshots(t *testing.T) {
	m := counterModule(t)
	h, events := snapshotServices(t)
	immediate := v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true}
	c := counterController(t, h, m, 1, immediate)

	for range 2 {
		if _, err := c.reconcile(c.ctx, wakeKey{"ns", "a"}, "event"); err != nil {
			t.Fatal(err)
		}
		if n := c.pool.count(); n != 0 {
			t.Fatalf("%d instances resident after an Immediate reconcile", n)
		}
	}
	if got := count(t, c); got != "count=3" {
		t.Errorf("after two suspended reconciles the guest reports %s, want count=3: its memory was not restored", got)
	}
	if fi, err := os.Stat(c.pool.snapshotPath()); err != nil || fi.Size() == 0 {
		t.Fatalf("snapshot file: %v", err)
	}

	// A truncated snapshot is discarded with an Event; the guest starts afresh.
	fi, _ := os.Stat(c.pool.snapshotPath())
	if err := os.Truncate(c.pool.snapshotPath(), fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if got := count(t, c); got != "count=1" {
		t.Errorf("after a truncated snapshot the guest reports %s, want a fresh count=1", got)
	}
	wantPathlessEvent(t, events, "Warning SnapshotDiscarded", h.snapshotRoot)
	if got := count(t, c); got != "count=2" {
		t.Errorf("after a fresh start and a snapshot the guest reports %s, want count=2", got)
	}

	// A new generation does not restore the old one's memory, and removes it.
	old := c.pool.snapshotPath()
	c2 := counterController(t, h, m, 2, immediate)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the snapshot of generation 1 is still there: %v", err)
	}
	if got := count(t, c2); got != "count=1" {
		t.Errorf("generation 2 reports %s, want a fresh count=1", got)
	}

	// Deleting the WasmController removes its snapshots.
	h.removeSnapshots("ns", "counter")
	if _, err := os.Stat(h.snapshotDir("ns", "counter")); !os.IsNotExist(err) {
		t.Errorf("snapshots of a deleted WasmController remain: %v", err)
	}
}

// TestController_SuspendResumeConcurrent wakes a snapshotting guest from
// several workers while its idle instances are suspended and prewarmed
// from other goroutines; run with -race.
func TestController_SuspendResumeConcurrent(t *testing.T) {
	m := counterModule(t)
	h, _ := snapshotServices(t)
	c := counterController(t, h, m, 1, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle,
		IdleAfter: &metav1.Duration{Duration: time.Hour}, Snapshot: true})
	c.queue.sched.held = false
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { h.scheduler.run(ctx) })
	wg.Go(func() { h.timers.run(ctx) })
	churn := func(f func()) {
		wg.Go(func() {
			for ctx.Err() == nil {
				f()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	churn(c.pool.suspendIdle)
	churn(c.pool.prewarm)

	const keys = 30
	for i := range keys {
		c.enqueue(wakeKey{"ns", "k" + itoa(i)}, "event")
		if i%10 == 0 {
			c.enqueue(wakeKey{"ns", "churn"}, "event")
		}
	}
	want := int64(keys + 1) // "churn" is woken 3 times, de-duplicated while queued
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return c.wakes.Load() >= want && c.queue.len() == 0, nil
	})
	if err != nil {
		t.Fatalf("%d of %d reconciles ran: %v", c.wakes.Load(), want, err)
	}
	cancel()
	wg.Wait()
	c.stop()
	c.status.mu.Lock()
	lastError := c.status.status.LastError
	c.status.mu.Unlock()
	if lastError != "" {
		t.Errorf("a reconcile failed: %s", lastError)
	}
	if n := c.pool.count(); n != 0 {
		t.Errorf("%d instances resident after stop", n)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// wantPathlessEvent checks that the next Event recorded says want and does
// not name serverPath, a file of the server's that tenants must not see.
func wantPathlessEvent(t *testing.T, events *record.FakeRecorder, want, serverPath string) {
	t.Helper()
	select {
	case e := <-events.Events:
		if !strings.Contains(e, want) {
			t.Errorf("Event %q, want %s", e, want)
		}
		if strings.Contains(e, serverPath) {
			t.Errorf("the Event names a server file: %q", e)
		}
	default:
		t.Errorf("no %s Event", want)
	}
}
