//go:build e2e

package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCompiledCodeFileBacked runs the configmap-replicator on a server
// with its defaults: the server's quiet release maps the module's compiled
// code from a file under the state dir (the server's metrics) and drops its
// resident pages along with the executable's, and a new source wakes the
// controller all the same, which runs from the pages read back and copies
// it, with no reload of the module.
func TestCompiledCodeFileBacked(t *testing.T) {
	const ns, source = "code-file-target", "code-file-settings"
	admin, wasmctl, srv := runReplicator(t, ns, source, "--vmodule=execpages=2,codefile=2")
	// The server's release once quiet maps the module's code from a file
	// and drops it, with the executable's pages: the log says how much of
	// it was resident.
	released := regexp.MustCompile(`"Dropped the executable's resident pages".* moduleCodeKiB=(\d+)`)
	var dropped int
	eventually(t, 3*time.Minute, "the server's release drops the module's resident code", func() (bool, string) {
		for _, m := range released.FindAllStringSubmatch(string(mustRead(t, srv.logPath())), -1) {
			if kib, _ := strconv.Atoi(m[1]); kib > 0 {
				dropped = kib
				return true, ""
			}
		}
		return false, srv.logTail()
	})
	t.Logf("the release dropped %d KiB of the module's compiled code", dropped)
	if fileBacked := metric(t, wasmctl, "wasm_apiserver_compiled_module_file_backed_bytes"); fileBacked < 1<<20 {
		t.Errorf("file-backed compiled code: %v bytes after the release, want the module's", fileBacked)
	}
	reloads := metric(t, wasmctl, "wasm_apiserver_compiled_module_reloads_total")

	mustKubectl(t, admin, "", "create", "namespace", ns)
	mustKubectl(t, admin, "", "label", "namespace", ns, "wasm.io/replicate-configmaps=true")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", source, "--from-literal=color=teal")
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", source, "wasm.io/replicate=true")
	eventually(t, time.Minute, "the woken controller copies the new source", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", ns, "get", "configmap", source, "-o", `jsonpath={.data.color}`)
		return out == "teal", out
	})
	if got := metric(t, wasmctl, "wasm_apiserver_compiled_module_reloads_total"); got != reloads {
		t.Errorf("compiled module reloads %v after the wake, %v before: the dropped code was loaded again, not read back", got, reloads)
	}
	if log := string(mustRead(t, srv.logPath())); strings.Contains(log, "Keeping a module's compiled code in anonymous memory") {
		t.Errorf("the server kept compiled code anonymous: %s", srv.logTail())
	}
}
