//go:build e2e

package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// haReplicas is the replicas' count in artifacts/ha/deployment.yaml.
const haReplicas = 3

// TestNode_InstallHA installs artifacts/ha on the local node as an
// administrator would: the serving certificate from
// hack/gen-serving-cert.sh, an etcd of the administrator's own that serves
// clients over TLS with client certificates, its URL and certificates in
// ha/etcd/, an overlay naming the image. Three replicas serve the API and
// share the controllers; a rolling restart replaces each of them while
// kubectl reads and applies WasmControllers through the aggregator in a
// loop, and not one of those requests may fail.
func TestNode_InstallHA(t *testing.T) {
	c := clusterFromEnv(t)
	requireNode(t, c)
	image := requireServerImage(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	work := t.TempDir()

	freshInstall(t, admin)
	etcd := startTLSEtcd(t, work, nodeIP(t, admin))
	overlay := writeOverlay(t, root, work, "ha", image)
	provideEtcd(t, filepath.Join(work, "artifacts", "ha", "etcd"), etcd)
	mustKubectl(t, admin, "", "apply", "-k", overlay)
	t.Cleanup(func() { uninstallHA(t, admin) })
	waitReplicasReady(t, admin)
	waitServerAvailable(t, admin)
	waitLeases(t, admin, haReplicas)

	deployExample(t, c, root, admin, "configmap-replicator")
	r := newReplication(t, admin)
	r.expect(t, "blue")

	name := "ha-applied"
	t.Cleanup(func() { kubectlAfter(t, admin, "delete", "wc", "-n", "default", name, "--ignore-not-found") })
	mustKubectl(t, admin, appliedController(name, 0), "apply", "-f", "-")
	before := replicaPods(t, admin)
	load := startKubectlLoad(t, admin, filepath.Join(work, "kubectl-cache"), name)
	// Stopped below; also here, so that its runs end and are waited for
	// when a step before fails the test.
	t.Cleanup(func() { load.stop() })
	mustKubectl(t, admin, "", "-n", serverNamespace, "rollout", "restart", "deployment/wasm-apiserver")
	mustKubectl(t, admin, "", "-n", serverNamespace, "rollout", "status", "deployment/wasm-apiserver", "--timeout=5m")
	// The old replicas stop within their grace period's first part: the
	// shutdown delay, the end of the watches they serve, the requests in
	// flight. The load runs until the last is gone.
	eventually(t, 45*time.Second, "the old replicas gone", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", serverNamespace, "get", "pods", "-l", serverSelector, "-o", "name")
		for _, pod := range before {
			if strings.Contains(out, "pod/"+pod+"\n") {
				return false, out
			}
		}
		return true, ""
	})
	calls := load.stop()

	var failed int
	for _, call := range calls {
		if call.err != nil {
			failed++
			t.Errorf("%s failed during the rolling restart (at %s): %v\n%s", call.what, call.start.Format(time.TimeOnly), call.err, call.out)
		}
	}
	t.Logf("%d kubectl runs through the aggregator during the rolling restart, %d failed", len(calls), failed)
	if len(calls) < 20 {
		t.Errorf("only %d kubectl runs during the rolling restart: the load did not run", len(calls))
	}
	after := replicaPods(t, admin)
	for _, pod := range after {
		if strings.Contains(" "+strings.Join(before, " ")+" ", " "+pod+" ") {
			t.Errorf("replica %s was not replaced (before %v, after %v)", pod, before, after)
		}
	}
	seq := strings.TrimSpace(mustKubectl(t, admin, "", "get", "wc", "-n", "default", name, "-o", "jsonpath={.spec.env[0].value}"))
	if seq == "0" {
		t.Errorf("no apply took effect during the restart (spec.env SEQ=%s)", seq)
	}

	// The replicas that left deleted their Leases; the new ones share the
	// controllers, and the example runs on one of them.
	waitLeases(t, admin, haReplicas)
	eventually(t, time.Minute, "configmap-replicator owned by a new replica", func() (bool, string) {
		owner, _ := kubectl(t, admin, "", "-n", "default", "get", "wc", "configmap-replicator", "-o", "jsonpath={.status.owner}")
		return owner != "" && strings.Contains(" "+strings.Join(after, " ")+" ", " "+owner+" "), "status.owner " + owner
	})
	r.change(t, "green")
	r.expect(t, "green")

	if out := mustKubectl(t, admin, "", "-n", serverNamespace, "get", "pdb", "wasm-apiserver", "-o",
		"jsonpath={.status.disruptionsAllowed}"); strings.TrimSpace(out) != "1" {
		t.Errorf("PodDisruptionBudget allows %q disruptions with %d replicas ready, want 1", out, haReplicas)
	}
}

// nodeIP is the local node's address, which its pods reach.
func nodeIP(t *testing.T, admin string) net.IP {
	t.Helper()
	out := mustKubectl(t, admin, "", "get", "nodes", "-o", `jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}`)
	ip := net.ParseIP(strings.TrimSpace(out))
	if ip == nil {
		t.Fatalf("the node's InternalIP %q is not an address", out)
	}
	return ip
}

// provideEtcd puts what artifacts/ha/etcd/ holds: the etcd's CA, a client
// certificate and key, and its URL.
func provideEtcd(t *testing.T, dir string, e *tlsEtcd) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"ca.crt": mustRead(t, e.CA), "tls.crt": mustRead(t, e.ClientCert), "tls.key": mustRead(t, e.ClientKey),
		"servers.env": []byte("ETCD_SERVERS=" + e.URL + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// replicaPods are the names of the replicas' pods that are not being
// deleted.
func replicaPods(t *testing.T, admin string) []string {
	t.Helper()
	out := mustKubectl(t, admin, "", "-n", serverNamespace, "get", "pods", "-l", serverSelector, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}`)
	var pods []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 1 {
			pods = append(pods, f[0])
		}
	}
	return pods
}

// waitReplicasReady waits until the Deployment has all its replicas
// updated and Ready.
func waitReplicasReady(t *testing.T, admin string) {
	t.Helper()
	if out, err := kubectl(t, admin, "", "-n", serverNamespace, "rollout", "status", "deployment/wasm-apiserver", "--timeout=4m"); err != nil {
		pods, _ := kubectl(t, admin, "", "-n", serverNamespace, "describe", "pods", "-l", serverSelector)
		t.Fatalf("replicas not ready: %v\n%s\n%s", err, out, pods)
	}
}

// waitLeases waits until n replicas hold a Lease of the default sharding
// group in the server's namespace.
func waitLeases(t *testing.T, admin string, n int) {
	t.Helper()
	eventually(t, time.Minute, "the replicas' Leases", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", serverNamespace, "get", "leases", "-o", "name")
		var held []string
		for _, l := range strings.Fields(out) {
			if strings.HasPrefix(l, "lease.coordination.k8s.io/wasm-apiserver-wasm-apiserver-") {
				held = append(held, l)
			}
		}
		return len(held) == n, strings.Join(held, " ")
	})
}

// uninstallHA deletes the replicas and what artifacts/ha generated, so that
// later tests' servers are the only ones behind the Service, and the
// APIService the replicas served.
func uninstallHA(t *testing.T, admin string) {
	if t.Failed() {
		out, _ := runAfter(time.Minute, "kubectl", "--kubeconfig", admin, "-n", serverNamespace, "logs", "-l", serverSelector, "--tail=40", "--prefix")
		t.Logf("replicas' logs:\n%s", out)
	}
	kubectlAfter(t, admin, "-n", serverNamespace, "delete", "deployment,pdb,secret,configmap", "-l", serverSelector, "--wait=true", "--timeout=2m")
	kubectlAfter(t, admin, "-n", serverNamespace, "delete", "pods", "-l", serverSelector, "--ignore-not-found", "--timeout=2m")
	unregisterAPIService(t, admin)
}
