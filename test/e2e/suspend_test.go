//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testSuspend checks the suspend policies on the real cluster: after a
// wake, Never keeps the guest's instance in memory, Immediate takes it out
// at once, and Idle after idleAfter without work; the phase, memoryBytes and
// the host's guest gauges say so. A controller added later starts from the
// initialized memory its module's controllers left, and a wake takes an
// instance built ahead of it when a guest of the module suspended.
func testSuspend(t *testing.T, c *cluster, root, wasmctl string) {
	admin := c.Kubeconfig
	publishModule(t, c, root, "echo")
	mustKubectl(t, admin, "", "-n", "default", "create", "role", "suspend-read", "--verb=get,list,watch", "--resource=configmaps")
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
    namespace: default
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
	if n := metric(t, wasmctl, "wasm_apiserver_resume_duration_seconds", `from="init"`) +
		metric(t, wasmctl, "wasm_apiserver_resume_duration_seconds", `from="template"`); n < 3 {
		t.Errorf("fresh starts counted: %v, want at least one per controller", n)
	}
	// A suspended guest wakes again on its next event.
	mustKubectl(t, admin, "", "-n", "default", "patch", "configmap", "suspend-trigger", "--type=merge", "-p", `{"data":{"x":"2"}}`)
	eventually(t, time.Minute, "the suspended guests wake again", func() (bool, string) {
		a, b := state("suspend-immediate"), state("suspend-idle")
		return strings.HasPrefix(a, "2 ") && strings.HasPrefix(b, "2 "), a + " / " + b
	})
	// Another controller of the module in the namespace starts from the
	// copy of initialized memory the others left: it does not run the
	// guest's init (the SDK's modules declare that it does not need the
	// controller's name).
	inits := func() (float64, float64) {
		return metric(t, wasmctl, "wasm_apiserver_resume_duration_seconds", `from="init"`),
			metric(t, wasmctl, "wasm_apiserver_resume_duration_seconds", `from="template"`)
	}
	initBefore, templateBefore := inits()
	mustKubectl(t, admin, "", "-n", "default", "create", "rolebinding", "suspend-late", "--role=suspend-read", "--serviceaccount=default:suspend-late")
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: suspend-late, namespace: default}
spec:
  module:
    configMapRef: {name: echo-module, key: module.wasm.gz}
  serviceAccountName: suspend-late
  suspend: {policy: Immediate}
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=suspend-late-trigger
`, "apply", "-f", "-")
	waitPhase(t, wasmctl, "suspend-late", loaded, "1")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "suspend-late-trigger", "--from-literal=x=1")
	eventually(t, time.Minute, "the late controller wakes", func() (bool, string) {
		out := state("suspend-late")
		return out == "1 Suspended ", out
	})
	if initAfter, templateAfter := inits(); initAfter != initBefore || templateAfter < templateBefore+1 {
		t.Errorf("starts of guests over the late controller's first wake: init %v → %v, template %v → %v; want it to start from the template its module's other controllers left",
			initBefore, initAfter, templateBefore, templateAfter)
	}
	// The guests suspended within --spare-instance-idle (10 s) of each
	// other's wakes: the first to close left an instance of the module
	// built ahead, which a later wake took instead of instantiating it.
	if n := metric(t, wasmctl, "wasm_apiserver_spare_instances_taken_total"); n < 1 {
		t.Errorf("wakes that took a spare instance: %v, want at least one", n)
	}
	for name := range policies {
		mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name)
	}
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "suspend-late")
}

// testSnapshots checks on the real cluster that a guest suspended with
// snapshot: true keeps what it holds in memory across suspends, and across
// a restart of the server; that a corrupt snapshot is discarded with an
// Event; and that deleting the WasmController removes its snapshots. The
// counter guest counts its reconciles in a Go global and logs the count.
func testSnapshots(t *testing.T, c *cluster, root, wasmctl string, srv *serverProcess) {
	admin := c.Kubeconfig
	publishModule(t, c, root, "counter")
	grantWatch(t, admin, "default", "default", "configmaps")
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: snapshot-counter, namespace: default}
spec:
  module:
    configMapRef: {name: counter-module, key: module.wasm.gz}
  suspend: {policy: Immediate, snapshot: true}
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=tick
`, "apply", "-f", "-")
	waitPhase(t, wasmctl, "snapshot-counter", loaded, "1")
	wake := func(n int) {
		t.Helper()
		mustKubectl(t, admin, "", "-n", "default", "patch", "configmap", "tick", "--type=merge", "-p", fmt.Sprintf(`{"data":{"n":"%d"}}`, n))
	}
	// The guest logs "counted N"; the last such line of this controller in
	// the server's log is its count.
	lastCount := func() string {
		b, _ := os.ReadFile(filepath.Join(srv.stateDir, "wasm-apiserver.log"))
		count := ""
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, `"counted `); i >= 0 && strings.Contains(line, "snapshot-counter") {
				count, _, _ = strings.Cut(line[i+len(`"counted `):], `"`)
			}
		}
		return count
	}
	wantCount := func(what, count string) {
		t.Helper()
		eventually(t, time.Minute, what, func() (bool, string) {
			out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "snapshot-counter",
				"-o", "jsonpath={.status.phase} {.status.snapshotBytes}")
			f := strings.Fields(out)
			got := lastCount()
			return got == count && len(f) == 2 && f[0] == "Suspended" && f[1] != "0", "count " + got + ", status " + out
		})
	}
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "tick", "--from-literal=n=0")
	wantCount("the first wake counts 1", "1")
	wake(1)
	wantCount("restored from its snapshot, the guest counts 2", "2")

	srv.stop(t)
	srv.start(t)
	waitReady(t, wasmctl, srv)
	waitPhase(t, wasmctl, "snapshot-counter", loaded, "1")
	wantCount("after a restart of the server, the initial ADDED wakes the restored guest", "3")
	wake(2)
	wantCount("and it counts on", "4")
	// Each wake since the restart restored a snapshot of a restored guest,
	// which lists the pages its wake wrote: the restore copied them in.
	if n := metric(t, wasmctl, "wasm_apiserver_snapshot_hot_pages_copied_total"); n < 1 {
		t.Errorf("hot pages copied in by restores: %v, want some", n)
	}

	snapshots := filepath.Join(srv.stateDir, "snapshots", "default", "snapshot-counter")
	files, _ := filepath.Glob(filepath.Join(snapshots, "*.snap"))
	if len(files) != 1 {
		t.Fatalf("snapshot files %v, want one", files)
	}
	if err := os.WriteFile(files[0], []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	wake(3)
	wantCount("a corrupt snapshot is discarded and the guest starts afresh", "1")
	eventually(t, 30*time.Second, "a SnapshotDiscarded Event", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "events", "--field-selector", "involvedObject.name=snapshot-counter,reason=SnapshotDiscarded", "-o", "name")
		return strings.TrimSpace(out) != "", out
	})

	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "snapshot-counter")
	eventually(t, 30*time.Second, "deleting the WasmController removes its snapshots", func() (bool, string) {
		_, err := os.Stat(snapshots)
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}
