//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// sharedEtcdController is a WasmController whose module ConfigMap does not
// exist: it is stored and served like any other, and its owner reports the
// failed load in its status, naming itself in status.owner.
func sharedEtcdController(name string) *v1alpha1.WasmController {
	return &v1alpha1.WasmController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.WasmControllerSpec{
			Module:             v1alpha1.ModuleSource{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "no-such-module", Key: "module.wasm"}},
			ServiceAccountName: "default",
			Watches:            []v1alpha1.Watch{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default"}},
		},
	}
}

// TestReplicas_SharedEtcd runs three replicas on one etcd (--etcd-servers):
// what one stores the others serve; with one killed (SIGKILL), reads and
// writes through the other two go on and its controllers move to them;
// restarted, it serves what was written meanwhile and takes its share of
// the controllers back.
func TestReplicas_SharedEtcd(t *testing.T) {
	c := clusterFromEnv(t)
	root, work := repoRoot(t), t.TempDir()
	group := fmt.Sprintf("etcd-%d", time.Now().Unix())
	rs := startReplicas(t, c, root, work, group, 3)
	ctx := t.Context()

	var names []string
	for i := range 6 {
		name := fmt.Sprintf("%s-%d", group, i)
		names = append(names, name)
		if _, err := rs[i%3].client.ControllersV1alpha1().WasmControllers("default").Create(ctx, sharedEtcdController(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s through %s: %v", name, rs[i%3].id, err)
		}
	}
	t.Cleanup(func() {
		for _, n := range names {
			_ = rs[1].client.ControllersV1alpha1().WasmControllers("default").Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	for _, r := range rs {
		list, err := r.client.ControllersV1alpha1().WasmControllers("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := countPrefixed(list.Items, group); got != len(names) {
			t.Errorf("%s lists %d of the %d WasmControllers written through all three", r.id, got, len(names))
		}
	}
	waitOwners(t, rs[0], names, rs)
	wide := mustKubectl(t, filepath.Join(rs[1].srv.stateDir, "kubeconfig"), "", "get", "wc", "-n", "default", names[0], "-o", "wide")
	if want := wantOwner(rs, "default/"+names[0]); !strings.Contains(wide, "OWNER") || !strings.Contains(wide, want) {
		t.Errorf("kubectl get wc -o wide does not show the owner %s:\n%s", want, wide)
	}

	victim, rest := rs[0], rs[1:]
	victim.srv.kill(t)
	// Reads and writes through the two others, for longer than the
	// victim's Lease lasts: not one may fail.
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("%s-during-%d", group, i)
		writer, reader := rest[i%2], rest[(i+1)%2]
		if _, err := writer.client.ControllersV1alpha1().WasmControllers("default").Create(ctx, sharedEtcdController(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s through %s with %s dead: %v", name, writer.id, victim.id, err)
		}
		names = append(names, name)
		if _, err := reader.client.ControllersV1alpha1().WasmControllers("default").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("get %s through %s with %s dead: %v", name, reader.id, victim.id, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	waitOwners(t, rest[0], names, rest)

	victim.srv.start(t)
	victim.waitReady(t)
	list, err := victim.client.ControllersV1alpha1().WasmControllers("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := countPrefixed(list.Items, group); got != len(names) {
		t.Errorf("restarted %s lists %d of %d WasmControllers", victim.id, got, len(names))
	}
	waitOwners(t, victim, names, rs)
}

func countPrefixed(items []v1alpha1.WasmController, prefix string) int {
	n := 0
	for _, wc := range items {
		if strings.HasPrefix(wc.Name, prefix+"-") {
			n++
		}
	}
	return n
}

// waitOwners waits until, read through r, every named WasmController's
// status.owner is the replica rendezvous hashing gives it among live.
func waitOwners(t *testing.T, r *replica, names []string, live []*replica) {
	t.Helper()
	eventually(t, 90*time.Second, "status.owner of every controller among "+strings.Join(ids(live), ","), func() (bool, string) {
		var wrong []string
		for _, n := range names {
			wc, err := r.client.ControllersV1alpha1().WasmControllers("default").Get(t.Context(), n, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if want := wantOwner(live, "default/"+n); wc.Status.Owner != want {
				wrong = append(wrong, fmt.Sprintf("%s: owner %q, want %q (phase %s)", n, wc.Status.Owner, want, wc.Status.Phase))
			}
		}
		return len(wrong) == 0, strings.Join(wrong, "\n")
	})
}
