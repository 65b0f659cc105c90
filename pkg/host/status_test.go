package host

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
)

// TestStatusWriter_StartStop: what is asked before start is written at
// start, urgent changes at once, the last state at stop; no goroutine is
// left behind between writes.
func TestStatusWriter_StartStop(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	client := fake.NewSimpleClientset(wc)
	w := newStatusWriter(client, clock.RealClock{}, wc)
	phase := func() v1alpha1.Phase {
		got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Status.Phase
	}
	idle := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return !w.flushing
	}

	w.update(true, func(s *v1alpha1.WasmControllerStatus) { s.Phase = v1alpha1.PhaseLoading })
	if got := phase(); got != "" {
		t.Fatalf("phase %q written before start", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	w.start(ctx)
	poll(t, func() bool { return phase() == v1alpha1.PhaseLoading && idle() })

	w.update(true, func(s *v1alpha1.WasmControllerStatus) { s.Phase = v1alpha1.PhaseSuspended })
	poll(t, func() bool { return phase() == v1alpha1.PhaseSuspended && idle() })

	cancel()
	w.update(true, func(s *v1alpha1.WasmControllerStatus) { s.LastError = "stopped" })
	if !idle() {
		t.Error("a write started after the context was done")
	}
	w.stop()
	got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.LastError != "stopped" {
		t.Errorf("stop did not write the last status: lastError %q", got.Status.LastError)
	}
}

// TestStatusWriter_StopUnstarted: a writer never started writes nothing at
// stop; its owner failed to start and wrote the status itself.
func TestStatusWriter_StopUnstarted(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	client := fake.NewSimpleClientset(wc)
	w := newStatusWriter(client, clock.RealClock{}, wc)
	w.update(true, func(s *v1alpha1.WasmControllerStatus) { s.Phase = v1alpha1.PhaseLoading })
	client.ClearActions()
	w.stop()
	if n := len(client.Actions()); n != 0 {
		t.Errorf("stop of an unstarted writer made %d requests", n)
	}
}

// enforceUIDPrecondition makes client refuse a status update whose object
// has another UID than the stored one, with a Conflict, as the API server
// does: it takes the UID of an updated object as a precondition.
func enforceUIDPrecondition(t *testing.T, client *fake.Clientset) {
	t.Helper()
	client.PrependReactor("update", "wasmcontrollers", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "status" {
			return false, nil, nil
		}
		wc := action.(k8stesting.UpdateAction).GetObject().(*v1alpha1.WasmController)
		stored, err := client.Tracker().Get(v1alpha1.SchemeGroupVersion.WithResource("wasmcontrollers"), wc.Namespace, wc.Name)
		if err != nil {
			return true, nil, err
		}
		if uid := stored.(*v1alpha1.WasmController).UID; wc.UID != "" && wc.UID != uid {
			return true, nil, apierrors.NewConflict(v1alpha1.Resource("wasmcontrollers"), wc.Name,
				fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", wc.UID, uid))
		}
		return false, nil, nil
	})
}

// recreate deletes the WasmController ns/c and creates it again with uid.
func recreate(t *testing.T, client *fake.Clientset, uid types.UID) *v1alpha1.WasmController {
	t.Helper()
	// Through the tracker: a reactor may call this, with the client locked.
	gvr := v1alpha1.SchemeGroupVersion.WithResource("wasmcontrollers")
	if err := client.Tracker().Delete(gvr, "ns", "c"); err != nil {
		t.Error(err)
	}
	created := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: uid}}
	if err := client.Tracker().Create(gvr, created, "ns"); err != nil {
		t.Error(err)
	}
	return created
}

// TestStatusWriter_RecreatedObject: a writer for one object never writes
// onto another object of the same name, whether that was re-created before
// the writer read it or between its read and its write; it then drops its
// changes and writes no more.
func TestStatusWriter_RecreatedObject(t *testing.T) {
	for _, tc := range []struct {
		name string
		// betweenGetAndUpdate re-creates the object after the writer's
		// first read instead of before it.
		betweenGetAndUpdate bool
	}{
		{name: "before the write"},
		{name: "between read and write", betweenGetAndUpdate: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-a"}}
			client := fake.NewSimpleClientset(old)
			enforceUIDPrecondition(t, client)
			w := newStatusWriter(client, clock.RealClock{}, old)
			if tc.betweenGetAndUpdate {
				var once sync.Once
				client.PrependReactor("get", "wasmcontrollers", func(k8stesting.Action) (bool, runtime.Object, error) {
					handled := false
					once.Do(func() {
						recreate(t, client, "uid-b")
						handled = true
					})
					return handled, old.DeepCopy(), nil // what was read before the re-creation
				})
			} else {
				recreate(t, client, "uid-b")
			}

			w.update(true, func(s *v1alpha1.WasmControllerStatus) { s.Wakes = 7 })
			w.flush(t.Context())
			got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Wakes != 0 {
				t.Fatalf("the writer for uid-a wrote onto %s: wakes %d", got.UID, got.Status.Wakes)
			}

			client.ClearActions()
			w.start(t.Context())
			w.update(true, func(s *v1alpha1.WasmControllerStatus) { s.Wakes = 8 })
			w.flush(t.Context())
			w.stop()
			if n := len(client.Actions()); n != 0 {
				t.Errorf("the writer of a re-created object made %d requests afterwards: %v", n, client.Actions())
			}
		})
	}
}

// TestStatusWriter_RecreatedObjectStartsEmpty: the controller of a
// re-created object starts from an empty status, whatever its
// predecessor's writer had left to write when it stopped.
func TestStatusWriter_RecreatedObjectStartsEmpty(t *testing.T) {
	old := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-a"}}
	client := fake.NewSimpleClientset(old)
	enforceUIDPrecondition(t, client)
	ctx, cancel := context.WithCancel(t.Context())
	w := newStatusWriter(client, clock.RealClock{}, old)
	w.start(ctx)
	w.update(false, func(s *v1alpha1.WasmControllerStatus) { s.Wakes = 7 })
	w.setCondition(1, v1alpha1.ConditionReady, true, "Running", "the controller wakes on its events")

	recreate(t, client, "uid-b")
	cancel()
	w.stop() // the last write of the old controller

	// The new controller's writer starts from the new object as read then.
	seen, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := newStatusWriter(client, clock.RealClock{}, seen)
	next.mu.Lock()
	defer next.mu.Unlock()
	if diff := cmp.Diff(v1alpha1.WasmControllerStatus{}, next.status); diff != "" {
		t.Errorf("the new controller's status did not start empty (-want +got):\n%s", diff)
	}
}

// TestStatusWriter_CoalescesOnTheClock: a coalesced change is written
// statusFlushInterval later on the host's clock, not on the wall clock.
func TestStatusWriter_CoalescesOnTheClock(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	client := fake.NewSimpleClientset(wc)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := newStatusWriter(client, clk, wc)
	w.start(t.Context())
	defer w.stop()
	wakes := func() int64 {
		got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Status.Wakes
	}

	w.update(false, func(s *v1alpha1.WasmControllerStatus) { s.Wakes = 1 })
	w.update(false, func(s *v1alpha1.WasmControllerStatus) { s.Wakes = 2 })
	if !clk.HasWaiters() {
		t.Fatal("no flush waits on the host's clock")
	}
	clk.Step(statusFlushInterval - time.Millisecond)
	if got := wakes(); got != 0 {
		t.Fatalf("wakes %d written before the flush interval passed", got)
	}
	clk.Step(time.Millisecond)
	poll(t, func() bool { return wakes() == 2 })
	if clk.HasWaiters() {
		t.Error("a flush is still scheduled after the write")
	}
}
