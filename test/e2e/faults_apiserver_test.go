//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaults_KubeAPIServerRestart stops kube-apiserver under wasm-apiserver
// running behind the aggregator, with changes not yet reconciled, and
// starts it again: the controllers converge, the APIService is Available
// again and the WasmControllers are served through the aggregator.
func TestFaults_KubeAPIServerRestart(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	work := t.TempDir()
	admin := c.Kubeconfig

	srv := serveBehindAggregator(t, c, root, work)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wasm-apiserver log:\n%s", srv.logTail())
		}
	})
	waitAvailable(t, admin, "True", srv)
	deployReplicator(t, c, root, admin, true)
	// Ten targets: each reconcile of a source writes ten copies, so the
	// work outlasts the requests that cause it.
	src, targets := replicaNamespaces(t, admin, "faults-kas", 10)
	late := targets[9] // a target only from when kube-apiserver goes away
	mustKubectl(t, admin, "", "label", "namespace", late, "wasm.io/replicate-configmaps-")

	first := names("kas", 20)
	mustKubectl(t, admin, sourcesYAML(src, first, "1"), "create", "-f", "-")
	waitCopies(t, admin, src, targets[:9], copiesOf(src, first, "1"), time.Minute)
	gone, kept := first[:10], first[10:]
	mustKubectl(t, admin, "", slices.Concat([]string{"-n", src, "label", "configmap"}, gone, []string{"faults.wasm.io/batch=gone"})...)

	// Changes the controller has yet to work when kube-apiserver goes away:
	// a new target wants a copy of every source, and half the sources go,
	// in one request.
	mustKubectl(t, admin, "", "label", "namespace", late, "wasm.io/replicate-configmaps=true")
	mustKubectl(t, admin, "", "delete", "--raw", "/api/v1/namespaces/"+src+"/configmaps?labelSelector=faults.wasm.io%2Fbatch%3Dgone")
	restartKubeAPIServer(t, c, 10*time.Second)
	want := copiesOf(src, kept, "1")
	logBacklog(t, admin, src, targets, want, "kube-apiserver back")

	// More changes once it is back.
	added := names("kas-new", 5)
	mustKubectl(t, admin, sourcesYAML(src, kept, "2"), "apply", "-f", "-")
	mustKubectl(t, admin, sourcesYAML(src, added, "3"), "create", "-f", "-")
	want = copiesOf(src, kept, "2")
	for name, v := range copiesOf(src, added, "3") {
		want[name] = v
	}
	waitCopies(t, admin, src, targets, want, 90*time.Second)
	waitAvailable(t, admin, "True", srv)
	if out := mustKubectl(t, admin, "", "get", "wasmcontrollers", "-n", "default"); !strings.Contains(out, "configmap-replicator") {
		t.Errorf("kubectl get wasmcontrollers after the restart:\n%s", out)
	}
	waitPhase(t, admin, "configmap-replicator", loaded, "1")
}

// restartKubeAPIServer kills kube-apiserver, leaves it down for down, and
// starts it again with hack/cluster-up.sh, which must restart it alone: etcd
// keeps running with its data, the URL and the kubeconfig stay valid. Should
// the test fail on the way, its cleanup brings the cluster back for the
// tests after it.
func restartKubeAPIServer(t *testing.T, c *cluster, down time.Duration) {
	t.Helper()
	root := repoRoot(t)
	up := func() (string, error) {
		return runAfter(5*time.Minute, filepath.Join(root, "hack", "cluster-up.sh"))
	}
	t.Cleanup(func() {
		if out, err := up(); err != nil {
			t.Errorf("bringing the cluster back: %v\n%s", err, out)
		}
	})
	etcdPID := strings.TrimSpace(string(mustRead(t, filepath.Join(c.Dir, "etcd.pid"))))
	env := string(mustRead(t, filepath.Join(c.Dir, "env")))

	killKubeAPIServer(t, c)
	if out, err := kubectl(t, c.Kubeconfig, "", "get", "--raw", "/readyz", "--request-timeout=2s"); err == nil {
		t.Fatalf("kube-apiserver still answers after it was killed:\n%s", out)
	}
	time.Sleep(down)

	start := time.Now()
	if out, err := up(); err != nil {
		t.Fatalf("hack/cluster-up.sh: %v\n%s", err, out)
	}
	t.Logf("kube-apiserver back in %s", time.Since(start).Round(100*time.Millisecond))
	if pid := strings.TrimSpace(string(mustRead(t, filepath.Join(c.Dir, "etcd.pid")))); pid != etcdPID {
		t.Errorf("hack/cluster-up.sh restarted etcd (pid %s, was %s)", pid, etcdPID)
	}
	if now := string(mustRead(t, filepath.Join(c.Dir, "env"))); now != env {
		t.Errorf("hack/cluster-up.sh changed the env file:\n%s\nwas:\n%s", now, env)
	}
	if out, err := kubectl(t, c.Kubeconfig, "", "get", "namespace", "default", "-o", "name"); err != nil || !slices.Contains(strings.Fields(out), "namespace/default") {
		t.Fatalf("the kubeconfig after the restart: %v\n%s", err, out)
	}
}

// killKubeAPIServer ends the cluster's kube-apiserver with SIGKILL, as a
// crash would, and waits until it is gone. Only the process recorded in
// kube-apiserver.pid is signalled, and only if it was started for this
// cluster.
func killKubeAPIServer(t *testing.T, c *cluster) {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(string(mustRead(t, filepath.Join(c.Dir, "kube-apiserver.pid")))))
	if err != nil {
		t.Fatalf("kube-apiserver.pid: %v", err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), c.Dir) {
		t.Fatalf("pid %d is not this cluster's kube-apiserver: %v", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing kube-apiserver: %v", err)
	}
	eventually(t, 30*time.Second, "kube-apiserver gone", func() (bool, string) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true, ""
		}
		// A zombie waits for its parent; it runs no more.
		_, state, _ := strings.Cut(string(stat), ") ")
		return strings.HasPrefix(state, "Z"), state
	})
}
