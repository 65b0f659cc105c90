package host

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// TestHost_LoadedEventForChanges: a controller's Loaded Event announces a
// load its status did not already record. Starting it again as recorded,
// as a restarted server does, sends none; a new generation sends one.
func TestHost_LoadedEventForChanges(t *testing.T) {
	h, client, recorder, _ := inlineTestHost(t, t.TempDir())

	// start starts the controller as the cluster has it and reports the
	// Loaded Events it sent, once its status records it Ready.
	start := func(change func(*v1alpha1.WasmController)) []string {
		t.Helper()
		got, err := client.ControllersV1alpha1().WasmControllers("tenant").Get(t.Context(), "c", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if change != nil {
			change(got)
			if got, err = client.ControllersV1alpha1().WasmControllers("tenant").Update(t.Context(), got, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		c, err := h.start(t.Context(), got)
		if err != nil {
			t.Fatal(err)
		}
		defer c.stop()
		if err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			now, err := client.ControllersV1alpha1().WasmControllers("tenant").Get(ctx, "c", metav1.GetOptions{})
			ready := meta.FindStatusCondition(now.Status.Conditions, v1alpha1.ConditionReady)
			return err == nil && ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == got.Generation, nil
		}); err != nil {
			t.Fatalf("the controller's status never recorded it Ready: %v", err)
		}
		var loaded []string
		for {
			select {
			case e := <-recorder.Events:
				if strings.HasPrefix(e, "Normal Loaded ") {
					loaded = append(loaded, e)
				}
			default:
				return loaded
			}
		}
	}

	if got := start(nil); len(got) != 1 {
		t.Errorf("first load: Loaded Events %q, want one", got)
	}
	if got := start(nil); len(got) != 0 {
		t.Errorf("the same load again, as its status records it: Loaded Events %q, want none", got)
	}
	if got := start(func(wc *v1alpha1.WasmController) { wc.Generation = 2 }); len(got) != 1 {
		t.Errorf("a new generation: Loaded Events %q, want one", got)
	}
}
