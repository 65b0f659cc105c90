//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// testSuspend checks the suspend policies on the real cluster: after a
// wake, Never keeps the guest's instance in memory, Immediate takes it out
// at once, and Idle after idleAfter without work; the phase, memoryBytes and
// the host's guest gauges say so.
func testSuspend(t *testing.T, c *cluster, root, wasmctl string) {
	admin := c.Kubeconfig
	publishModule(t, c, root, "echo")
	mustKubectl(t, admin, "", "-n", "default", "create", "role", "suspend-read", "--verb=get", "--resource=configmaps")
	policies := map[string]string{
		"suspend-never":     "{policy: Never}",
		"suspend-immediate": "{policy: Immediate}",
		"suspend-idle":      "{policy: Idle, idleAfter: 3s}",
	}
	for name, suspend := range policies {
		mustKubectl(t, admin, "", "-n", "default", "create", "rolebinding", name, "--role=suspend-read", "--serviceaccount=default:"+name)
		mustKubectl(t, wasmctl, fmt.Sprintf(`apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: %s, namespace: default}
spec:
  module:
    configMapRef: {name: echo-module, key: module.wasm.gz}
  serviceAccountName: %s
  suspend: %s
  watches:
  - apiVersion: v1
    kind: ConfigMap
    fieldSelector: metadata.name=suspend-trigger
`, name, name, suspend), "apply", "-f", "-")
		waitPhase(t, wasmctl, name, loaded, "1")
	}
	state := func(name string) string {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name, "-o", "jsonpath={.status.wakes} {.status.phase} {.status.memoryBytes}")
		return out
	}
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "suspend-trigger", "--from-literal=x=1")
	// memoryBytes is 0 when omitted: a suspended guest holds no linear memory.
	eventually(t, time.Minute, "Never keeps the instance", func() (bool, string) {
		out := state("suspend-never")
		f := strings.Fields(out)
		return len(f) == 3 && f[0] == "1" && f[1] == "Active" && f[2] != "0", out
	})
	eventually(t, time.Minute, "Immediate suspends after the reconcile", func() (bool, string) {
		out := state("suspend-immediate")
		return out == "1 Suspended ", out
	})
	eventually(t, time.Minute, "Idle stays in memory after the wake", func() (bool, string) {
		out := state("suspend-idle")
		f := strings.Fields(out)
		return len(f) == 3 && f[0] == "1" && f[1] == "Active", out
	})
	// Seen Active after its wake, it then suspends without further work.
	eventually(t, time.Minute, "Idle suspends after idleAfter", func() (bool, string) {
		out := state("suspend-idle")
		return out == "1 Suspended ", out
	})
	if active, suspended := metric(t, wasmctl, "wasm_apiserver_guests_active"), metric(t, wasmctl, "wasm_apiserver_guests_suspended"); active < 1 || suspended < 2 {
		t.Errorf("guest gauges: %v active, %v suspended; want at least Never active and Immediate and Idle suspended", active, suspended)
	}
	if n := metric(t, wasmctl, "wasm_apiserver_resume_duration_seconds_count", `from="init"`); n < 3 {
		t.Errorf("resumes counted: %v, want at least one per controller", n)
	}
	// A suspended guest wakes again on its next event.
	mustKubectl(t, admin, "", "-n", "default", "patch", "configmap", "suspend-trigger", "--type=merge", "-p", `{"data":{"x":"2"}}`)
	eventually(t, time.Minute, "the suspended guests wake again", func() (bool, string) {
		a, b := state("suspend-immediate"), state("suspend-idle")
		return strings.HasPrefix(a, "2 ") && strings.HasPrefix(b, "2 "), a + " / " + b
	})
	for name := range policies {
		mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name)
	}
}
