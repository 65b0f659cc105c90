//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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

	certDir := applyArtifacts(t, admin, root, work)
	srv := &serverProcess{bin: buildServer(t, root, work), stateDir: filepath.Join(work, "state"), certDir: certDir,
		kubeconfig: filepath.Join(work, "wasm-apiserver.kubeconfig"), port: freePort(t)}
	if err := os.MkdirAll(srv.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	saKubeconfig(t, c, "wasm-system", "wasm-apiserver", srv.kubeconfig)
	mustKubectl(t, admin, endpointSlice(srv.port), "apply", "-f", "-")
	srv.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wasm-apiserver log:\n%s", srv.logTail())
		}
	})
	waitAvailable(t, admin, "True", srv)
	deployReplicator(t, c, root, admin, true)
	src, targets := replicaNamespaces(t, admin, "faults-kas", 2)

	first := names("kas", 10)
	mustKubectl(t, admin, sourcesYAML(src, first, "1"), "create", "-f", "-")
	waitCopies(t, admin, src, targets, copiesOf(src, first, "1"), time.Minute)

	// Changes the controller has yet to work, then kube-apiserver goes away.
	mustKubectl(t, admin, sourcesYAML(src, first, "2"), "apply", "-f", "-")
	restartKubeAPIServer(t, c, 10*time.Second)

	// More changes once it is back.
	deleted, kept, added := first[:3], first[3:], names("kas-new", 5)
	mustKubectl(t, admin, "", append([]string{"-n", src, "delete", "configmap"}, deleted...)...)
	mustKubectl(t, admin, sourcesYAML(src, added, "3"), "create", "-f", "-")
	want := copiesOf(src, kept, "2")
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

// restartKubeAPIServer stops kube-apiserver, leaves it down for down, and
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

	lib := filepath.Join(root, "hack", "lib")
	stop := `set -euo pipefail
for f in common build certs cluster; do source "` + lib + `/$f.sh"; done
cluster::stop kube-apiserver`
	if out, err := run(t, "", "bash", "-c", stop); err != nil {
		t.Fatalf("stopping kube-apiserver: %v\n%s", err, out)
	}
	if out, err := kubectl(t, c.Kubeconfig, "", "get", "--raw", "/readyz", "--request-timeout=2s"); err == nil {
		t.Fatalf("kube-apiserver still answers after it was stopped:\n%s", out)
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
