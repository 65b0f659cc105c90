package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// The runtime's image file of a module (which its snapshots are deltas
// against) stays while a snapshot refers to it, and goes with the last
// snapshot of a module no longer loaded.
func TestController_SnapshotImagesRemoved(t *testing.T) {
	images := filepath.Join(t.TempDir(), "images")
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: filepath.Join(t.TempDir(), "cache"), ImageDir: images})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	m, err := rt.Load(t.Context(), guesttest.Build(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := snapshotServices(t)
	h.images = rt
	h.imageSweep.every = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go h.timers.run(ctx)
	c := counterController(t, h, m, 1, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true})
	if _, err := c.reconcile(c.ctx, wakeKey{"ns", "a"}, "event"); err != nil {
		t.Fatal(err)
	}
	imageFiles := func() []string {
		t.Helper()
		paths, err := filepath.Glob(filepath.Join(images, "*.img"))
		if err != nil {
			t.Fatal(err)
		}
		return paths
	}
	if paths := imageFiles(); len(paths) != 1 {
		t.Fatalf("image files %q after a snapshot, want one", paths)
	}

	c.cancel()
	m.Release(context.Background())
	h.removeUnusedImages()
	if paths := imageFiles(); len(paths) != 1 {
		t.Errorf("image files %q of a released module whose snapshot is kept, want one", paths)
	}
	h.removeSnapshots("ns", "counter")
	// Sweeps are paced: this one runs once the last is 300 ms old.
	if paths := imageFiles(); len(paths) != 1 {
		t.Errorf("image files %q right after another sweep, want the sweep put off", paths)
	}
	for deadline := time.Now().Add(10 * time.Second); len(imageFiles()) != 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if paths := imageFiles(); len(paths) != 0 {
		t.Errorf("image files %q left after the last snapshot of a released module was removed", paths)
	}
	if _, err := os.Stat(images); err != nil {
		t.Errorf("image directory: %v", err)
	}
}
