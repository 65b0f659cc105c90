package integration

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServer_StatusUpdateOfRecreatedObject: a status update carrying the
// UID of a deleted WasmController is refused with a Conflict by the object
// re-created under its name, even with that object's resourceVersion. The
// host's status writers rely on it to never write a controller's status
// onto its successor.
func TestServer_StatusUpdateOfRecreatedObject(t *testing.T) {
	s := startServer(t, t.TempDir())
	manifest := strings.ReplaceAll(minimalWC, "%s", "recreated")
	wcs := s.Client.ControllersV1alpha1().WasmControllers("default")
	s.mustKubectl(t, manifest, "create", "-f", "-")
	old, err := wcs.Get(t.Context(), "recreated", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.mustKubectl(t, "", "delete", "wc", "recreated")
	s.mustKubectl(t, manifest, "create", "-f", "-")
	fresh, err := wcs.Get(t.Context(), "recreated", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.UID == old.UID {
		t.Fatalf("the re-created object kept UID %s", old.UID)
	}

	stale := old.DeepCopy()
	stale.ResourceVersion = fresh.ResourceVersion // only the UID tells them apart
	stale.Status.Wakes = 7
	if _, err := wcs.UpdateStatus(t.Context(), stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("status update with the old UID: err=%v, want a Conflict", err)
	}
	got, err := wcs.Get(t.Context(), "recreated", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Wakes != 0 {
		t.Errorf("the re-created object took the old one's status: wakes %d", got.Status.Wakes)
	}

	fresh.Status.Wakes = 1
	if _, err := wcs.UpdateStatus(t.Context(), fresh, metav1.UpdateOptions{}); err != nil {
		t.Errorf("status update with the object's own UID: %v", err)
	}
}
