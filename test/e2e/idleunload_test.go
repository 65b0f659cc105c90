//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCompiledIdleUnload runs the configmap-replicator on a server that
// unloads a module's compiled code after 3 s with no guest in memory: once
// the controller is suspended that long, its module's code is gone (the
// server's metrics), and a new source wakes it all the same, loading the
// code again, and is copied. The server gives back what the unload left
// soon after it.
func TestCompiledIdleUnload(t *testing.T) {
	const ns, source = "idle-unload-target", "idle-unload-settings"
	admin, wasmctl, srv := runReplicator(t, ns, source, "--compiled-module-idle-unload=3s", "--vmodule=execpages=2,eviction=2")
	logFrom := func(off int) string {
		log := mustRead(t, srv.logPath())
		return string(log[min(off, len(log)):])
	}
	const released, unloadedIdle = `"Dropped the executable's resident pages"`, `reason="idle"`
	// The server's first release, once it is quiet after starting.
	eventually(t, 3*time.Minute, "the server's first release of its idle memory", func() (bool, string) {
		return strings.Contains(logFrom(0), released), srv.logTail()
	})
	mark := len(mustRead(t, srv.logPath()))

	// A namespace to copy into wakes the controller, which is suspended
	// again 30 s after (policy Idle), and its module unloaded 3 s later.
	mustKubectl(t, admin, "", "create", "namespace", ns)
	mustKubectl(t, admin, "", "label", "namespace", ns, "wasm.io/replicate-configmaps=true")
	eventually(t, 2*time.Minute, "the suspended controller's module gives up its compiled code", func() (bool, string) {
		phase, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "configmap-replicator", "-o", "jsonpath={.status.phase}")
		code := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes")
		idle := metric(t, wasmctl, "wasm_apiserver_compiled_module_evictions_total", `reason="idle"`)
		return phase == "Suspended" && code == 0 && idle >= 1 && strings.Contains(logFrom(mark), unloadedIdle),
			fmt.Sprintf("phase %s, compiled bytes %v, idle evictions %v", phase, code, idle)
	})
	reloads := metric(t, wasmctl, "wasm_apiserver_compiled_module_reloads_total")
	// What the unload left goes back to the OS at the server's next
	// release, due soon after it rather than at the end of its period
	// (10 minutes).
	eventually(t, 2*time.Minute, "the server releases its idle memory after the unload", func() (bool, string) {
		log := logFrom(mark)
		unloaded := strings.Index(log, unloadedIdle)
		return unloaded >= 0 && strings.Contains(log[unloaded:], released), srv.logTail()
	})

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

// runReplicator runs the configmap-replicator on a server of its own started
// with flags, and returns the cluster's admin kubeconfig, the server's and
// the server. What a test adds for it is removed when the test ends: the
// target namespace ns and the source ConfigMap in default.
func runReplicator(t *testing.T, ns, source string, flags ...string) (string, string, *serverProcess) {
	t.Helper()
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, srv := runControllersWith(t, c, root, t.TempDir(), flags...)
	deployExample(t, c, root, wasmctl, "configmap-replicator")
	t.Cleanup(func() {
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "configmap-replicator", "--ignore-not-found")
		_, _ = kubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", source, "--ignore-not-found")
	})
	return admin, wasmctl, srv
}
