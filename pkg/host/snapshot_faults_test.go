package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	listers "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/listers/controllers/v1alpha1"
)

// snapshotCondition returns the controller's Snapshotted condition, or nil.
func snapshotCondition(c *controller) *metav1.Condition {
	c.status.mu.Lock()
	defer c.status.mu.Unlock()
	if cond := meta.FindStatusCondition(c.status.status.Conditions, ConditionSnapshotted); cond != nil {
		copied := *cond
		return &copied
	}
	return nil
}

// TestController_SnapshotWriteFailure: a snapshot that cannot be written
// is reported by a condition and an Event that name no server file, the
// older snapshot, which could not be removed either, is never restored,
// and a later snapshot clears the condition.
func TestController_SnapshotWriteFailure(t *testing.T) {
	m := counterModule(t)
	h, events := snapshotServices(t)
	c := counterController(t, h, m, 1, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle,
		IdleAfter: &metav1.Duration{Duration: time.Hour}, Snapshot: true})

	if got := count(t, c); got != "count=1" {
		t.Fatalf("first reconcile reports %s, want count=1", got)
	}
	c.pool.suspendIdle()
	if cond := snapshotCondition(c); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Fatalf("after a written snapshot the Snapshotted condition is %+v, want True", cond)
	}
	if got := count(t, c); got != "count=2" {
		t.Fatalf("after a snapshot the guest reports %s, want count=2", got)
	}

	// The controller's snapshot directory cannot be written to nor its
	// snapshot removed: a regular file stands in its place for the
	// suspend. The old snapshot, count=1, is set aside and put back after.
	dir := filepath.Dir(c.pool.snapshotPath())
	if err := os.Rename(dir, dir+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c.pool.suspendIdle()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".aside", dir); err != nil {
		t.Fatal(err)
	}

	cond := snapshotCondition(c)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "SnapshotFailed" {
		t.Fatalf("after a failed snapshot the Snapshotted condition is %+v, want False/SnapshotFailed", cond)
	}
	if strings.Contains(cond.Message, h.snapshotRoot) {
		t.Errorf("the condition names a server file: %q", cond.Message)
	}
	wantPathlessEvent(t, events, "Warning SnapshotFailed", h.snapshotRoot)

	if got := count(t, c); got != "count=1" {
		t.Errorf("after a failed snapshot the guest reports %s, want a fresh count=1: a stale snapshot was restored", got)
	}

	// A snapshot written again clears the condition and is restored.
	c.pool.suspendIdle()
	if cond := snapshotCondition(c); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("after a written snapshot the Snapshotted condition is %+v, want True", cond)
	}
	if got := count(t, c); got != "count=2" {
		t.Errorf("after a written snapshot the guest reports %s, want count=2", got)
	}
}

// TestHost_RemoveOrphanedSnapshotsSweepsTemps: at start, the temporary
// files of snapshots interrupted by the server's end are removed, with
// the snapshots of deleted WasmControllers; completed snapshots stay.
func TestHost_RemoveOrphanedSnapshotsSweepsTemps(t *testing.T) {
	h := newTestHost(Config{SnapshotDir: t.TempDir()}, testServices{})
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := indexer.Add(&v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "live",
		UID: types.UID("uid-1")}}); err != nil {
		t.Fatal(err)
	}
	h.lister = listers.NewWasmControllerLister(indexer)

	live, gone := h.snapshotDir("ns", "live"), h.snapshotDir("ns", "gone")
	files := map[string]bool{ // path: kept
		filepath.Join(live, "uid-1-1.snap"):                true,
		filepath.Join(live, ".uid-1-1.snap.123456789.tmp"): false,
		filepath.Join(live, ".uid-1-2.snap.987654321.tmp"): false,
		filepath.Join(live, "notes.tmp"):                   true,
		filepath.Join(gone, "uid-2-1.snap"):                false,
		filepath.Join(gone, ".uid-2-1.snap.111111111.tmp"): false,
	}
	for path := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	h.removeOrphanedSnapshots()

	for path, kept := range files {
		_, err := os.Stat(path)
		if exists := err == nil; exists != kept {
			t.Errorf("%s: exists %v, want %v", filepath.Base(path), exists, kept)
		}
	}
}
