//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// guestSA is the ServiceAccount the impersonate guest runs as.
const guestSA = "system:serviceaccount:default:impersonate"

// TestIdentity runs a guest that tries every way a request envelope could
// name another identity to grant itself everything, and checks that the
// host refused each of them, the cluster's RBAC refused the plain request,
// and the guest's ServiceAccount can do afterwards exactly what it could
// before. It also checks that the server itself may impersonate only
// ServiceAccounts.
func TestIdentity(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, _ := runControllers(t, c, root, t.TempDir())

	// The server may impersonate ServiceAccounts and nothing broader.
	server := "system:serviceaccount:wasm-system:wasm-apiserver"
	if !canI(t, admin, server, "impersonate", "serviceaccounts", "-n", "default") {
		t.Errorf("%s may not impersonate ServiceAccounts: guests' writes cannot be made as their ServiceAccount", server)
	}
	for _, resource := range []string{"users", "groups", "uids.authentication.k8s.io", "userextras.authentication.k8s.io"} {
		if canI(t, admin, server, "impersonate", resource) {
			t.Errorf("%s may impersonate %s: the grant is broader than ServiceAccounts", server, resource)
		}
	}

	// The target: a ClusterRole with no rules, bound to the guest's
	// ServiceAccount. Patching rules into it is how the guest would escalate.
	_, _ = kubectl(t, admin, "", "delete", "clusterrole", "identity-target", "--ignore-not-found")
	mustKubectl(t, admin, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: identity-target}\nrules: []\n", "apply", "-f", "-")
	_, _ = kubectl(t, admin, "", "delete", "clusterrolebinding", "identity-target", "--ignore-not-found")
	mustKubectl(t, admin, "", "create", "clusterrolebinding", "identity-target", "--clusterrole=identity-target", "--serviceaccount=default:impersonate")
	_, _ = kubectl(t, admin, "", "-n", "default", "create", "serviceaccount", "impersonate")
	_, _ = kubectl(t, admin, "", "-n", "default", "create", "role", "identity-read-configmaps", "--verb=get,list,watch", "--resource=configmaps")
	_, _ = kubectl(t, admin, "", "-n", "default", "create", "rolebinding", "identity-read-configmaps", "--role=identity-read-configmaps", "--serviceaccount=default:impersonate")

	escalated := func() []string {
		var got []string
		for _, q := range [][]string{
			{"patch", "clusterroles"}, {"escalate", "clusterroles"}, {"*", "*"}, {"delete", "namespaces"},
		} {
			if canI(t, admin, guestSA, q[0], q[1]) {
				got = append(got, q[0]+" "+q[1])
			}
		}
		return got
	}
	if got := escalated(); len(got) != 0 {
		t.Fatalf("before the guest ran, %s can already %v", guestSA, got)
	}

	publishModule(t, c, root, "impersonate")
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: impersonate, namespace: default}
spec:
  module:
    configMapRef: {name: impersonate-module, key: module.wasm.gz}
  serviceAccountName: impersonate
  env: [{name: TARGET_CLUSTERROLE, value: identity-target}]
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=identity-trigger
`, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "impersonate", "--ignore-not-found")
	})
	waitPhase(t, wasmctl, "impersonate", loaded, "1")
	_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", "identity-trigger", "--ignore-not-found")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "identity-trigger", "--from-literal=x=1")

	var attempts string
	eventually(t, time.Minute, "the guest reports its attempts", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "impersonate", "-o", "jsonpath={.status.lastError}")
		attempts = out
		return strings.HasPrefix(out, "attempts: "), out
	})
	results := map[string]string{}
	for _, f := range strings.Fields(strings.TrimPrefix(attempts, "attempts: ")) {
		form, code, _ := strings.Cut(f, "=")
		results[form] = code
	}
	want := map[string]string{
		// The request as the guest's own ServiceAccount reaches the API
		// server, whose RBAC refuses it.
		"plain": "403",
		// Everything else is refused by the host before it is sent.
		"Impersonate-User": "400", "impersonate-user": "400", "IMPERSONATE-USER": "400", "Impersonate-Group": "400",
		"Impersonate-Uid": "400", "Impersonate-Extra": "400", "Authorization": "400", "Content-Type-CRLF": "400",
		"query": "400", "path-query": "400", "path-host": "404", "path-encoded": "400",
	}
	for form, code := range want {
		if results[form] != code {
			t.Errorf("attempt %s answered %q, want %s (all: %s)", form, results[form], code, attempts)
		}
	}

	rules := mustKubectl(t, admin, "", "get", "clusterrole", "identity-target", "-o", "jsonpath={.rules}")
	if r := strings.TrimSpace(rules); r != "" && r != "[]" && r != "null" {
		t.Errorf("the guest changed ClusterRole identity-target: rules %s", rules)
	}
	if got := escalated(); len(got) != 0 {
		t.Errorf("after the guest ran, %s can %v", guestSA, got)
	}
	if who := auditedAs(t, c, "patch", "clusterroles", "", "identity-target"); who != "" && who != guestSA {
		t.Errorf("a patch of identity-target was made as %s", who)
	}
}

// canI asks the cluster whether user may verb resource, with kubectl auth
// can-i as an administrator impersonating user.
func canI(t *testing.T, kubeconfig, user, verb, resource string, args ...string) bool {
	t.Helper()
	out, _ := kubectl(t, kubeconfig, "", append([]string{"auth", "can-i", verb, resource, "--as=" + user}, args...)...)
	return strings.TrimSpace(out) == "yes"
}
