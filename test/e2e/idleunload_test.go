//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestCompiledIdleUnload runs the configmap-replicator on a server that
// unloads a module's compiled code after 3 s with no guest in memory: once
// the controller is suspended that long, its module's code is gone (the
// server's metrics), and a new source wakes it all the same, loading the
// code again, and is copied.
func TestCompiledIdleUnload(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, _ := runControllersWith(t, c, root, t.TempDir(), "--compiled-module-idle-unload=3s")
	deployExample(t, c, root, wasmctl, "configmap-replicator")
	const ns, source = "idle-unload-target", "idle-unload-settings"
	t.Cleanup(func() {
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "configmap-replicator", "--ignore-not-found")
		_, _ = kubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", source, "--ignore-not-found")
	})
	mustKubectl(t, admin, "", "create", "namespace", ns)
	mustKubectl(t, admin, "", "label", "namespace", ns, "wasm.io/replicate-configmaps=true")

	eventually(t, 2*time.Minute, "the suspended controller's module gives up its compiled code", func() (bool, string) {
		phase, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "configmap-replicator", "-o", "jsonpath={.status.phase}")
		code := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes")
		idle := metric(t, wasmctl, "wasm_apiserver_compiled_module_evictions_total", `reason="idle"`)
		return phase == "Suspended" && code == 0 && idle >= 1, fmt.Sprintf("phase %s, compiled bytes %v, idle evictions %v", phase, code, idle)
	})
	reloads := metric(t, wasmctl, "wasm_apiserver_compiled_module_reloads_total")

	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", source, "--from-literal=color=teal")
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", source, "wasm.io/replicate=true")
	eventually(t, time.Minute, "the woken controller copies the new source", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", ns, "get", "configmap", source, "-o", `jsonpath={.data.color}`)
		return out == "teal", out
	})
	if got := metric(t, wasmctl, "wasm_apiserver_compiled_module_reloads_total"); got <= reloads {
		t.Errorf("compiled module reloads %v after the wake, %v before: the wake did not load the code again", got, reloads)
	}
}
