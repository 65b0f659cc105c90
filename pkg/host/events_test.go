package host

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestEventBroadcaster_NewReasonsAndMessagesFlow: after a guest failed
// many times, a new message and a new reason about the same object still
// reach the cluster, and repeats are counted on one Event.
func TestEventBroadcaster_NewReasonsAndMessagesFlow(t *testing.T) {
	kube := kubefake.NewClientset()
	b := newEventBroadcaster(kube)
	defer b.Shutdown()
	recorder := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "wasm-apiserver"})
	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "1"}}

	for range 40 {
		recorder.Event(obj, corev1.EventTypeWarning, "ReconcileFailed", "boom")
	}
	for i := range 15 {
		recorder.Event(obj, corev1.EventTypeWarning, "ReconcileFailed", fmt.Sprintf("failure %d", i))
	}
	recorder.Event(obj, corev1.EventTypeNormal, "Loaded", "module loaded")

	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := kube.CoreV1().Events("ns").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var loaded, newest bool
		var boom int32
		last = ""
		for _, e := range events.Items {
			last += fmt.Sprintf("%s %q x%d\n", e.Reason, e.Message, e.Count)
			switch {
			case e.Reason == "Loaded":
				loaded = true
			case e.Message == "boom":
				boom = e.Count
			case e.Message == combinedPrefix+"failure 14":
				newest = true
			}
		}
		return loaded && newest && boom >= eventBurst, nil
	})
	if err != nil {
		t.Fatalf("want the new reason, the newest message and the repeats counted; got:\n%s", last)
	}
}
