//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExternalEtcd runs the server on the cluster's etcd (--etcd-servers)
// instead of its embedded one, and checks objects survive a restart there.
func TestExternalEtcd(t *testing.T) {
	clusterFromEnv(t)
	etcdURL := os.Getenv("ETCD_URL")
	if etcdURL == "" {
		t.Fatal("ETCD_URL is not set: run with `make test-e2e`")
	}
	root, work := repoRoot(t), t.TempDir()
	bin := buildServer(t, root, work)
	port := freePort(t)
	srv := &serverProcess{bin: bin, stateDir: work, port: port, args: []string{
		"--standalone", "--etcd-servers=" + etcdURL, "--etcd-prefix=/e2e-" + strconv.Itoa(port),
	}}
	kubeconfig := filepath.Join(work, "kubeconfig")
	ready := func() {
		eventually(t, time.Minute, "standalone server ready", func() (bool, string) {
			out, err := kubectl(t, kubeconfig, "", "get", "--raw", "/readyz")
			return err == nil && strings.Contains(out, "ok"), out + srv.logTail()
		})
	}
	srv.start(t)
	ready()
	mustKubectl(t, kubeconfig, string(mustRead(t, filepath.Join(root, "artifacts", "examples", "configmap-replicator.yaml"))), "apply", "-f", "-")
	srv.stop(t)
	if _, err := os.Stat(filepath.Join(work, "etcd")); err == nil {
		t.Errorf("an embedded etcd data dir was created although --etcd-servers was given")
	}
	srv.start(t)
	ready()
	if out := mustKubectl(t, kubeconfig, "", "get", "wc", "configmap-replicator", "-o", "name"); !strings.Contains(out, "configmap-replicator") {
		t.Errorf("after restart on the external etcd: %s", out)
	}
}
