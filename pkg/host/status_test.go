package host

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
)

// TestStatusWriter_StartStop: what is asked before start is written at
// start, urgent changes at once, the last state at stop; no goroutine is
// left behind between writes.
func TestStatusWriter_StartStop(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	client := fake.NewSimpleClientset(wc)
	w := newStatusWriter(client, wc)
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
	w := newStatusWriter(client, wc)
	w.update(true, func(s *v1alpha1.WasmControllerStatus) { s.Phase = v1alpha1.PhaseLoading })
	client.ClearActions()
	w.stop()
	if n := len(client.Actions()); n != 0 {
		t.Errorf("stop of an unstarted writer made %d requests", n)
	}
}
