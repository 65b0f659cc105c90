//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCompiledCodeDropped runs two distinct modules, the configmap-replicator
// and the ttl-cleaner, on a server whose --compiled-module-budget holds one
// module's compiled code and half the other's, not both: the budget drops
// the native code of the module woken less recently instead of closing it,
// and each controller, woken in turn, does its work with its module mapped
// back from its file, never reloaded nor evicted (the server's metrics).
// Then on a budget smaller than either module's compiled code, but not
// than what they keep with their native code dropped: neither is reported
// over the budget, and both are woken again without a reload.
func TestCompiledCodeDropped(t *testing.T) {
	const ns, source = "code-drop-target", "code-drop-settings"
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, srv := runControllersWith(t, c, root, t.TempDir())
	t.Cleanup(func() {
		for _, wc := range []string{"configmap-replicator", "ttl-cleaner"} {
			_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", wc, "--ignore-not-found")
		}
		_, _ = kubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", source, "code-drop-expiring", "--ignore-not-found")
	})
	// What each module is charged, under the default budget that holds both.
	deployExample(t, c, root, wasmctl, "configmap-replicator")
	replicator := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes")
	deployExample(t, c, root, wasmctl, "ttl-cleaner")
	cleaner := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes") - replicator
	if replicator <= 0 || cleaner <= 0 {
		t.Fatalf("compiled module bytes: %v for the replicator, %v for the ttl-cleaner", replicator, cleaner)
	}
	t.Logf("compiled code: %v bytes for the replicator, %v for the ttl-cleaner", replicator, cleaner)
	budget := int64(max(replicator, cleaner) + min(replicator, cleaner)/2)
	restart := func(budget int64) {
		srv.stop(t)
		srv.flags = append(srv.flags, fmt.Sprintf("--compiled-module-budget=%d", budget))
		srv.start(t)
		waitReady(t, wasmctl, srv)
	}
	restart(budget)
	eventually(t, 2*time.Minute, "both modules loaded, one's code dropped", func() (bool, string) {
		drops := metric(t, wasmctl, "wasm_apiserver_compiled_module_code_drops_total")
		charged := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes")
		return drops >= 1 && charged <= float64(budget), fmt.Sprintf("%v drops, %v bytes charged, budget %d", drops, charged, budget)
	})
	dropsBefore := metric(t, wasmctl, "wasm_apiserver_compiled_module_code_drops_total")

	// Each controller woken in turn: the replicator by a source and a
	// namespace to copy it to, the ttl-cleaner by a ConfigMap whose TTL
	// runs out.
	wakeBoth := func(color string) {
		t.Helper()
		mustKubectl(t, admin, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: %s, namespace: default, labels: {wasm.io/replicate: "true"}}
data: {color: %s}
`, source, color), "-n", "default", "apply", "-f", "-")
		eventually(t, time.Minute, "the woken replicator copies the source", func() (bool, string) {
			out, _ := kubectl(t, admin, "", "-n", ns, "get", "configmap", source, "-o", `jsonpath={.data.color}`)
			return out == color, out
		})
		mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "code-drop-expiring", "--from-literal=x=1")
		mustKubectl(t, admin, "", "-n", "default", "annotate", "configmap", "code-drop-expiring", "wasm.io/ttl=2s")
		eventually(t, time.Minute, "the woken ttl-cleaner deletes the expired ConfigMap", func() (bool, string) {
			out, err := kubectl(t, admin, "", "-n", "default", "get", "configmap", "code-drop-expiring")
			return err != nil && strings.Contains(out, "NotFound"), out
		})
	}
	// Once their guests are suspended (policy Idle), the budget drops the
	// code of the one woken less recently again, closing nothing and
	// loading nothing again.
	droppedAgain := func(budget int64, before float64) {
		t.Helper()
		eventually(t, 2*time.Minute, "the budget drops code again after the wakes", func() (bool, string) {
			drops := metric(t, wasmctl, "wasm_apiserver_compiled_module_code_drops_total")
			charged := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes")
			return drops > before && charged <= float64(budget), fmt.Sprintf("%v drops (%v before), %v bytes charged", drops, before, charged)
		})
		if got := metric(t, wasmctl, "wasm_apiserver_compiled_module_evictions_total", `reason="budget"`); got != 0 {
			t.Errorf("%v budget evictions: the budget closed modules whose code it could drop", got)
		}
		if got := metric(t, wasmctl, "wasm_apiserver_compiled_module_reloads_total"); got != 0 {
			t.Errorf("%v reloads of compiled code: a woken module was loaded again, not mapped back", got)
		}
	}
	mustKubectl(t, admin, "", "create", "namespace", ns)
	mustKubectl(t, admin, "", "label", "namespace", ns, "wasm.io/replicate-configmaps=true")
	wakeBoth("teal")
	droppedAgain(budget, dropsBefore)

	// A budget below either module's compiled code: each is over it while
	// it runs, neither once idle.
	small := int64(min(replicator, cleaner) * 9 / 10)
	restart(small)
	dropsBefore = metric(t, wasmctl, "wasm_apiserver_compiled_module_code_drops_total")
	wakeBoth("olive")
	droppedAgain(small, dropsBefore)
	for _, wc := range []string{"configmap-replicator", "ttl-cleaner"} {
		out := mustKubectl(t, wasmctl, "", "-n", "default", "get", "wc", wc, "-o", `jsonpath={.status.conditions[?(@.type=="CompiledModuleOverBudget")].status}`)
		if out != "" {
			t.Errorf("%s reports its module over the budget (%s) though what it keeps while idle fits", wc, out)
		}
	}
	if got := metric(t, wasmctl, "wasm_apiserver_compiled_modules_over_budget"); got != 0 {
		t.Errorf("%v modules over the budget, want none", got)
	}
}
