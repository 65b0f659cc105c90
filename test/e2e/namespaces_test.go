//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// namespaceGone bounds how long kube-controller-manager takes to delete a
// namespace once discovery is complete: its namespace controller waits 5 s
// after the deletion and retries a failed one with a backoff of at most
// 60 s.
const namespaceGone = 2 * time.Minute

// TestNamespaceDeletion deletes namespaces holding WasmControllers and
// ordinary objects with kube-controller-manager running: with the server
// up, the namespace and its WasmControllers go; with the server down, the
// namespace stays Terminating with a NamespaceDeletionDiscoveryFailure
// naming the group until the server is back, or until an administrator
// removes the APIService, which leaves the WasmControllers of the deleted
// namespace behind in the server's storage until they are deleted by hand.
// A WasmController in a namespace nobody deletes survives all of it.
func TestNamespaceDeletion(t *testing.T) {
	c := clusterFromEnv(t)
	requireControllerManager(t, c)
	root := repoRoot(t)
	work := t.TempDir()
	admin := c.Kubeconfig
	srv := serveBehindAggregator(t, c, root, work)
	waitAvailable(t, admin, "True", srv)

	keep := testNamespace(t, c, "nsdel-keep")
	mustKubectl(t, admin, wasmControllers(keep, "kept"), "apply", "-f", "-")
	kept := func(when string) {
		t.Helper()
		out, err := kubectl(t, admin, "", "-n", keep, "get", "wc", "kept", "-o", "name")
		if err != nil || strings.TrimSpace(out) != "wasmcontroller.controllers.wasm.io/kept" {
			t.Errorf("%s: the WasmController of a namespace nobody deleted: %v\n%s", when, err, out)
		}
	}

	t.Run("server up", func(t *testing.T) {
		ns := populatedNamespace(t, c, "nsdel-up")
		start := time.Now()
		mustKubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		waitNamespaceGone(t, admin, ns)
		t.Logf("namespace deleted in %s", time.Since(start).Round(time.Second))
		if out := mustKubectl(t, admin, "", "-n", ns, "get", "wc", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("WasmControllers of the deleted namespace remain:\n%s", out)
		}
		kept("server up")
	})

	t.Run("server down", func(t *testing.T) {
		ns := populatedNamespace(t, c, "nsdel-down")
		srv.stop(t)
		waitAvailable(t, admin, "False", srv)
		mustKubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		waitDiscoveryFailure(t, admin, ns)
		// What kube-controller-manager can discover it deletes; only the
		// namespace and its WasmControllers wait for the server.
		eventually(t, namespaceGone, "the namespace's ConfigMaps deleted", func() (bool, string) {
			out, err := kubectl(t, admin, "", "-n", ns, "get", "configmaps", "-o", "name")
			return err == nil && !strings.Contains(out, "configmap/data"), out
		})
		if out, err := kubectl(t, admin, "", "get", "namespace", ns, "-o", "jsonpath={.status.phase}"); err != nil || out != "Terminating" {
			t.Errorf("namespace %s while the server is down: %v %q, want Terminating", ns, err, out)
		}

		srv.start(t)
		waitAvailable(t, admin, "True", srv)
		waitNamespaceGone(t, admin, ns)
		if out := mustKubectl(t, admin, "", "-n", ns, "get", "wc", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("WasmControllers of the deleted namespace remain:\n%s", out)
		}
		kept("server back")
	})

	t.Run("APIService removed", func(t *testing.T) {
		ns := populatedNamespace(t, c, "nsdel-unregistered")
		srv.stop(t)
		waitAvailable(t, admin, "False", srv)
		mustKubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		waitDiscoveryFailure(t, admin, ns)

		// The administrator's way out while the server cannot come back.
		mustKubectl(t, admin, "", "delete", apiService)
		waitNamespaceGone(t, admin, ns)

		// Registered again, the server still holds the WasmControllers of
		// the namespace that is gone, and of the one nobody deleted.
		mustKubectl(t, admin, "", "apply", "-k", filepath.Join(work, "artifacts"))
		mustKubectl(t, admin, endpointSlice(srv.port), "apply", "-f", "-")
		srv.start(t)
		waitAvailable(t, admin, "True", srv)
		kept("APIService registered again")
		out := mustKubectl(t, admin, "", "-n", ns, "get", "wc", "-o", "name")
		if !strings.Contains(out, "wasmcontroller.controllers.wasm.io/first") {
			t.Fatalf("the WasmControllers of the namespace deleted while the APIService was removed:\n%s\nwant them left behind", out)
		}
		mustKubectl(t, admin, "", "-n", ns, "delete", "wc", "--all")
		if out := mustKubectl(t, admin, "", "-n", ns, "get", "wc", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("after kubectl delete wc --all: WasmControllers remain:\n%s", out)
		}
	})

	// Deleted while the server runs, so that no namespace of this test is
	// left Terminating once the server stops.
	mustKubectl(t, admin, "", "delete", "namespace", keep, "--wait=false")
	waitNamespaceGone(t, admin, keep)
}

// testNamespace creates a namespace named prefix-<n> for one test and
// deletes it at the end if the test has not, without waiting: a test that
// stopped the server must not hang its cleanup.
func testNamespace(t *testing.T, c *cluster, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000)
	mustKubectl(t, c.Kubeconfig, "", "create", "namespace", name)
	t.Cleanup(func() {
		kubectlAfter(t, c.Kubeconfig, "delete", "namespace", name, "--ignore-not-found", "--wait=false")
	})
	return name
}

// populatedNamespace creates a namespace holding two WasmControllers, a
// ConfigMap, a Secret and a ServiceAccount.
func populatedNamespace(t *testing.T, c *cluster, prefix string) string {
	t.Helper()
	ns := testNamespace(t, c, prefix)
	mustKubectl(t, c.Kubeconfig, "", "-n", ns, "create", "configmap", "data", "--from-literal=a=b")
	mustKubectl(t, c.Kubeconfig, "", "-n", ns, "create", "secret", "generic", "token", "--from-literal=a=b")
	mustKubectl(t, c.Kubeconfig, "", "-n", ns, "create", "serviceaccount", "runner")
	mustKubectl(t, c.Kubeconfig, wasmControllers(ns, "first", "second"), "apply", "-f", "-")
	if out := mustKubectl(t, c.Kubeconfig, "", "-n", ns, "get", "wc", "-o", "name"); strings.Count(out, "wasmcontroller") != 2 {
		t.Fatalf("WasmControllers of %s:\n%s", ns, out)
	}
	return ns
}

// wasmControllers is a manifest of WasmControllers with the given names in
// namespace. Their module is never published: whether they load does not
// matter to their deletion.
func wasmControllers(namespace string, names ...string) string {
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, `---
apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: %s, namespace: %s}
spec:
  module:
    configMapRef: {name: unpublished-module, key: module.wasm}
  watches:
  - {apiVersion: v1, kind: ConfigMap, namespace: %s}
`, name, namespace, namespace)
	}
	return b.String()
}

// waitNamespaceGone waits until a deleted namespace no longer exists.
func waitNamespaceGone(t *testing.T, kubeconfig, namespace string) {
	t.Helper()
	eventually(t, namespaceGone, "namespace "+namespace+" deleted", func() (bool, string) {
		out, err := kubectl(t, kubeconfig, "", "get", "namespace", namespace, "-o",
			`jsonpath={.status.phase} {.status.conditions[?(@.status=="True")].message}`)
		return err != nil && strings.Contains(out, "NotFound"), out
	})
}

// waitDiscoveryFailure waits until the namespace controller reports that it
// cannot delete a namespace's WasmControllers: a Terminating namespace with
// the condition NamespaceDeletionDiscoveryFailure naming the group.
func waitDiscoveryFailure(t *testing.T, kubeconfig, namespace string) {
	t.Helper()
	eventually(t, namespaceGone, "namespace "+namespace+" Terminating for want of discovery", func() (bool, string) {
		out, _ := kubectl(t, kubeconfig, "", "get", "namespace", namespace, "-o",
			`jsonpath={.status.phase} {.status.conditions[?(@.type=="NamespaceDeletionDiscoveryFailure")].status} `+
				`{.status.conditions[?(@.type=="NamespaceDeletionDiscoveryFailure")].reason} `+
				`{.status.conditions[?(@.type=="NamespaceDeletionDiscoveryFailure")].message}`)
		return strings.HasPrefix(out, "Terminating True DiscoveryFailed ") && strings.Contains(out, "controllers.wasm.io/v1alpha1"), out
	})
}
