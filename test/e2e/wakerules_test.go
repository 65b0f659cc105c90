//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// testWakeRules checks on the real cluster that a wake rule decides which
// events wake a guest: `object.data.x != oldObject.data.x` wakes it when x
// changes and for no other change; on the ADDED event, where oldObject is
// null, the rule fails, wakes nothing, and says so in a condition and a
// metric. It also checks that status.nextWakeTime shows the next resync.
func testWakeRules(t *testing.T, c *cluster, root, wasmctl string) {
	admin := c.Kubeconfig
	publishModule(t, c, root, "echo")
	mustKubectl(t, admin, "", "-n", "default", "create", "role", "wake-rules-read", "--verb=get,list,watch", "--resource=configmaps")
	mustKubectl(t, admin, "", "-n", "default", "create", "rolebinding", "wake-rules-read", "--role=wake-rules-read", "--serviceaccount=default:rule-x")
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: rule-x, namespace: default}
spec:
  module:
    configMapRef: {name: echo-module, key: module.wasm.gz}
  serviceAccountName: rule-x
  resyncPeriod: 1h
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=rule-target
    wakeWhen: object.data.x != oldObject.data.x
`, "apply", "-f", "-")
	waitPhase(t, wasmctl, "rule-x", loaded, "1")

	// The next timer is the first resync, an hour (plus up to 10% jitter) away.
	out := mustKubectl(t, wasmctl, "", "-n", "default", "get", "wc", "rule-x", "-o", "jsonpath={.status.nextWakeTime}")
	next, err := time.Parse(time.RFC3339, strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("status.nextWakeTime %q: %v", out, err)
	}
	if in := time.Until(next); in < 55*time.Minute || in > 67*time.Minute {
		t.Errorf("status.nextWakeTime is %v away, want about an hour (the resync period)", in)
	}

	evaluations := func(result string) float64 {
		return metric(t, wasmctl, "wasm_apiserver_wake_rule_evaluations_total", `controller="default/rule-x"`, `result="`+result+`"`)
	}
	wakes := func() float64 {
		return metric(t, wasmctl, "wasm_apiserver_wakes_total", `controller="default/rule-x"`)
	}
	// waitEvaluated waits until the rule has answered result n times, then
	// checks how many reconciles ran.
	waitEvaluated := func(what, result string, n, wantWakes float64) {
		t.Helper()
		eventually(t, time.Minute, what, func() (bool, string) {
			got := evaluations(result)
			return got == n, result + " evaluations: " + itoa(int(got))
		})
		eventually(t, 30*time.Second, what+": reconciles", func() (bool, string) {
			got := wakes()
			return got == wantWakes, "wakes: " + itoa(int(got)) + ", want " + itoa(int(wantWakes))
		})
	}
	patch := func(data string) {
		mustKubectl(t, admin, "", "-n", "default", "patch", "configmap", "rule-target", "--type=merge", "-p", `{"data":`+data+`}`)
	}

	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "rule-target", "--from-literal=x=1", "--from-literal=y=1")
	waitEvaluated("ADDED: the rule fails on the null oldObject", "error", 1, 0)
	eventually(t, 30*time.Second, "WakeRulesValid says why", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "rule-x",
			"-o", `jsonpath={.status.conditions[?(@.type=="WakeRulesValid")].status} {.status.conditions[?(@.type=="WakeRulesValid")].reason} {.status.conditions[?(@.type=="WakeRulesValid")].message}`)
		return strings.HasPrefix(out, "False EvaluationFailed 1 evaluations failed") && strings.Contains(out, "spec.watches[0]"), out
	})
	patch(`{"y":"2"}`)
	waitEvaluated("y changed: no wake", "skip", 1, 0)
	patch(`{"x":"2"}`)
	waitEvaluated("x changed: one wake", "wake", 1, 1)
	patch(`{"y":"3"}`)
	waitEvaluated("y changed again: no wake", "skip", 2, 1)
	eventually(t, 30*time.Second, "status shows the wake and its reason", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "rule-x", "-o", "jsonpath={.status.wakes} {.status.lastWakeReason} {.status.lastError}")
		return out == "1 event ", out
	})
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "rule-x")
}
