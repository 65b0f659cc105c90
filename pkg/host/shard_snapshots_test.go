package host

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	listers "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/listers/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

// writeSnapshot writes a snapshot file of namespace/name under h's root.
func writeSnapshot(t *testing.T, h *Host, namespace, name string) string {
	t.Helper()
	path := filepath.Join(h.snapshotDir(namespace, name), "uid-1-1"+snapshotSuffix)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestHost_HandOffRemovesSnapshots: a View that gives controllers away
// removes their snapshots, whether the controller runs here or not (paused,
// or its load failed), so that neither the next owner nor this replica when
// the key comes back restores a guest's memory older than what ran
// elsewhere; a View that keeps them keeps their snapshots.
func TestHost_HandOffRemovesSnapshots(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	wcs := fake.NewSimpleClientset()
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "running"}}
	if _, err := wcs.ControllersV1alpha1().WasmControllers("ns").Create(t.Context(), wc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	log := &runLog{running: map[string][]string{}, starts: map[string]int{}}
	h := shardedHost(t, kubefake.NewClientset(), wcs, "replica-a", log)
	startHost(t, h)
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		owners, ok := log.owners([]string{"ns/running"})
		return ok && owners["ns/running"] == "replica-a", nil
	})
	if err != nil {
		t.Fatalf("ns/running never ran on the only replica: %v", log.running)
	}
	running, idle := writeSnapshot(t, h, "ns", "running"), writeSnapshot(t, h, "ns", "idle")

	h.shard.applying.Lock()
	h.applyView(h.shard.members.View()) // the only live replica owns every key
	h.shard.applying.Unlock()
	for _, path := range []string{running, idle} {
		if !exists(path) {
			t.Errorf("%s removed by a View that keeps its controller here", path)
		}
	}

	h.fence() // a View that owns nothing
	for _, path := range []string{running, idle} {
		if exists(path) {
			t.Errorf("%s left behind once its controller was given away", path)
		}
	}
	if err := h.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestHost_ShardedStartRemovesSnapshots: a replica that shares the
// controllers with others removes every snapshot when it starts, for others
// ran its controllers while it was down; a server alone keeps those of
// WasmControllers that still exist.
func TestHost_ShardedStartRemovesSnapshots(t *testing.T) {
	tests := []struct {
		name     string
		sharding bool
		kept     bool
	}{
		{name: "alone", sharding: false, kept: true},
		{name: "sharded", sharding: true, kept: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHost(Config{SnapshotDir: t.TempDir()}, testServices{})
			indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			if err := indexer.Add(&v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "live",
				UID: types.UID("uid-1")}}); err != nil {
				t.Fatal(err)
			}
			h.lister = listers.NewWasmControllerLister(indexer)
			if tt.sharding {
				s, err := newShard(kubefake.NewClientset(), sharding.Options{Namespace: "wasm-system", Identity: "replica-a"}, func() {})
				if err != nil {
					t.Fatal(err)
				}
				h.shard = s
			}
			path := writeSnapshot(t, h, "ns", "live")

			h.removeOrphanedSnapshots()

			if got := exists(path); got != tt.kept {
				t.Errorf("snapshot of an existing WasmController kept: %v, want %v", got, tt.kept)
			}
		})
	}
}

// TestHost_HandOffSnapshotThatStays: a snapshot that a handoff cannot
// remove is never restored, for it would bring back memory older than what
// ran elsewhere. Its directory is made immutable, which needs chattr and
// the privilege to use it; the test is skipped without them.
func TestHost_HandOffSnapshotThatStays(t *testing.T) {
	h := newTestHost(Config{SnapshotDir: t.TempDir()}, testServices{})
	s, err := newShard(kubefake.NewClientset(), sharding.Options{Namespace: "wasm-system", Identity: "replica-a"}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	h.shard = s
	path := writeSnapshot(t, h, "ns", "moved")
	dir := filepath.Dir(path)
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot make the snapshot directory immutable: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir).Run() })

	h.applyView(&sharding.View{}) // owns nothing

	if !exists(path) {
		t.Fatal("the snapshot was removed: the test needs one that cannot be")
	}
	if !h.snapshots.isStale(path) {
		t.Error("a snapshot the handoff could not remove may be restored")
	}
}
