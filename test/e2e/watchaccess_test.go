//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWatchAuthorization checks on the real cluster that a tenant's
// controller cannot read through its watches what its ServiceAccount may
// not read: a WasmController in a tenant namespace watching Secrets in
// kube-system, with an enqueue rule built from the Secret's data, is
// refused with a WatchesReady reason naming the watch, verb, resource,
// namespace and user; it never wakes, and the Secret's data shows nowhere
// in its status or Events. Granting list and watch makes it run, without
// a restart or an edit, and still no data shows.
func TestWatchAuthorization(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	wasmctl, _ := runControllers(t, c, root, t.TempDir())
	admin := c.Kubeconfig
	const ns, wc = "watch-tenant", "secret-watcher"

	mustKubectl(t, admin, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n", "apply", "-f", "-")
	mustKubectl(t, admin, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: watcher, namespace: "+ns+"}\n", "apply", "-f", "-")
	// Left from an earlier run, the grant would make the refusal untestable.
	mustKubectl(t, admin, "", "-n", "kube-system", "delete", "rolebinding,role", "watch-tenant-secrets", "--ignore-not-found")
	publishModuleIn(t, c, root, "echo", ns)
	// The module is read as the ServiceAccount too.
	mustKubectl(t, admin, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-module, namespace: `+ns+`}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [echo-module], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-module, namespace: `+ns+`}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-module}
subjects:
- {kind: ServiceAccount, name: watcher, namespace: `+ns+`}
`, "apply", "-f", "-")

	// The secret, and its base64 form, which the enqueue rule reads: 15
	// bytes, so no padding, and only letters and digits, so that the key it
	// makes is a well-formed one.
	var password, encoded string
	for range 100 {
		password = "pw" + strings.ToLower(rand.Text()[:13])
		if encoded = base64.StdEncoding.EncodeToString([]byte(password)); !strings.ContainsAny(encoded, "+/=") {
			break
		}
	}
	_, _ = kubectl(t, admin, "", "-n", "kube-system", "delete", "secret", "tenant-bait", "--ignore-not-found")
	mustKubectl(t, admin, "", "-n", "kube-system", "create", "secret", "generic", "tenant-bait", "--from-literal=password="+password)
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "-n", "kube-system", "delete", "secret", "tenant-bait", "--ignore-not-found")
		_, _ = kubectl(t, admin, "", "-n", "kube-system", "delete", "rolebinding,role", "watch-tenant-secrets", "--ignore-not-found")
	})

	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: `+wc+`, namespace: `+ns+`}
spec:
  module:
    configMapRef: {name: echo-module, key: module.wasm.gz}
  serviceAccountName: watcher
  env: [{name: ECHO_RESOURCE, value: secrets}]
  watches:
  - apiVersion: v1
    kind: Secret
    namespace: kube-system
    fieldSelector: metadata.name=tenant-bait
    enqueue: "['kube-system/' + object.data.password]"
`, "apply", "-f", "-")

	conditions := `jsonpath={.status.wakes} {.status.conditions[?(@.type=="Ready")].status} ` +
		`{.status.conditions[?(@.type=="WatchesReady")].status} {.status.conditions[?(@.type=="WatchesReady")].reason} ` +
		`{.status.conditions[?(@.type=="WatchesReady")].message}`
	eventually(t, time.Minute, "the watch is refused, saying why", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", ns, "get", "wc", wc, "-o", conditions)
		return strings.Contains(out, "False False WatchForbidden ") &&
			strings.Contains(out, `spec.watches[0]: user "system:serviceaccount:watch-tenant:watcher" may not list secrets in namespace kube-system`), out
	})
	eventually(t, 30*time.Second, "a WatchForbidden Event", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", ns, "get", "events", "--field-selector", "involvedObject.name="+wc+",reason=WatchForbidden", "-o", "name")
		return strings.TrimSpace(out) != "", out
	})
	noSecretIn := func(when string) {
		t.Helper()
		status := mustKubectl(t, wasmctl, "", "-n", ns, "get", "wc", wc, "-o", "json")
		events := mustKubectl(t, admin, "", "-n", ns, "get", "events", "-o", "json")
		for _, leak := range []string{password, encoded} {
			if strings.Contains(status, leak) || strings.Contains(events, leak) {
				t.Errorf("%s: the Secret's data %q shows in the WasmController or its Events:\n%s\n%s", when, leak, status, events)
			}
		}
	}
	// Events of the Secret would have arrived by now; none may wake it.
	time.Sleep(3 * time.Second)
	if out := mustKubectl(t, wasmctl, "", "-n", ns, "get", "wc", wc, "-o", "jsonpath={.status.wakes}"); out != "" && out != "0" {
		t.Errorf("a refused controller woke %s times", out)
	}
	noSecretIn("refused")

	// Granting list and watch lets it run by itself: the RBAC change makes
	// the host check again.
	mustKubectl(t, admin, "", "-n", "kube-system", "create", "role", "watch-tenant-secrets", "--verb=list,watch", "--resource=secrets")
	mustKubectl(t, admin, "", "-n", "kube-system", "create", "rolebinding", "watch-tenant-secrets", "--role=watch-tenant-secrets",
		"--serviceaccount="+ns+":watcher")
	eventually(t, 2*time.Minute, "the controller recovers and wakes for the Secret", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", ns, "get", "wc", wc,
			"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="WatchesReady")].status} {.status.wakes} {.status.lastWakeReason}`)
		f := strings.Fields(out)
		// The guest may not get the Secret, so it fails and is retried: the
		// reason is "event" or "retry", and never the key.
		return len(f) == 4 && isLoaded(f[0]) && f[1] == "True" && f[2] != "0" && (f[3] == "event" || f[3] == "retry"), out
	})
	noSecretIn("running")
	mustKubectl(t, wasmctl, "", "-n", ns, "delete", "wc", wc)
}

// publishModuleIn builds a test guest and stores it, gzipped, in the
// ConfigMap <name>-module of namespace.
func publishModuleIn(t *testing.T, c *cluster, root, name, namespace string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "module.wasm.gz")
	if err := os.WriteFile(file, gzippedModule(t, root, name), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _ = kubectl(t, c.Kubeconfig, "", "-n", namespace, "delete", "configmap", name+"-module", "--ignore-not-found")
	mustKubectl(t, c.Kubeconfig, "", "-n", namespace, "create", "configmap", name+"-module", "--from-file=module.wasm.gz="+file)
}

// grantWatch lets a ServiceAccount get, list and watch a resource in its
// namespace, as a controller watching it there needs.
func grantWatch(t *testing.T, kubeconfig, namespace, serviceAccount, resource string) {
	t.Helper()
	name := "watch-" + resource + "-" + serviceAccount
	mustKubectl(t, kubeconfig, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: `+name+`, namespace: `+namespace+`}
rules:
- {apiGroups: [""], resources: [`+resource+`], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: `+name+`, namespace: `+namespace+`}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: `+name+`}
subjects:
- {kind: ServiceAccount, name: `+serviceAccount+`, namespace: `+namespace+`}
`, "apply", "-f", "-")
}
