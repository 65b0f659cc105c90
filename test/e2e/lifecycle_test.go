//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// errorLine is a klog line at error level (or worse): "E1206 07:17:22.123456 ...".
var errorLine = regexp.MustCompile(`(?m)^[EF]\d{4} \d\d:\d\d:\d\d\.\d+ .*$`)

// TestLifecycle stops the server with SIGTERM while one guest, with suspend
// policy Idle and snapshot: true, is idle in memory and another is in the
// middle of a reconcile that would last minutes. The stop cancels the long
// reconcile within a bound, writes the idle guest's snapshot, and logs no
// error; after the restart the idle guest counts on from where it was.
func TestLifecycle(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	wasmctl, srv := runControllers(t, c, root, t.TempDir())
	admin := c.Kubeconfig
	publishModule(t, c, root, "counter")
	publishModule(t, c, root, "misbehave")
	grantWatch(t, admin, "default", "default", "configmaps")
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: lifecycle-counter, namespace: default}
spec:
  module:
    configMapRef: {name: counter-module, key: module.wasm.gz}
  suspend: {policy: Idle, idleAfter: 1h, snapshot: true}
  watches:
  - {apiVersion: v1, kind: ConfigMap, namespace: default, fieldSelector: metadata.name=lifecycle-tick}
---
apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: lifecycle-sleeper, namespace: default}
spec:
  module:
    configMapRef: {name: misbehave-module, key: module.wasm.gz}
  env:
  - {name: MISBEHAVE_RECONCILE, value: sleep}
  limits: {reconcileTimeout: 5m}
  watches:
  - {apiVersion: v1, kind: ConfigMap, namespace: default, fieldSelector: metadata.name=lifecycle-sleep}
`, "apply", "-f", "-")
	waitPhase(t, wasmctl, "lifecycle-counter", loaded, "1")
	waitPhase(t, wasmctl, "lifecycle-sleeper", loaded, "1")

	logFile := filepath.Join(srv.stateDir, "wasm-apiserver.log")
	// The counter guest logs "counted N" at each reconcile; the last such
	// line of this controller is its count.
	lastCount := func() string {
		b, _ := os.ReadFile(logFile)
		count := ""
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, `"counted `); i >= 0 && strings.Contains(line, "lifecycle-counter") {
				count, _, _ = strings.Cut(line[i+len(`"counted `):], `"`)
			}
		}
		return count
	}
	phase := func(name string) string {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name, "-o", "jsonpath={.status.phase}")
		return out
	}
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "lifecycle-tick", "--from-literal=n=0")
	for n := 1; n <= 3; n++ {
		eventually(t, time.Minute, fmt.Sprintf("the counter counts %d", n), func() (bool, string) {
			got := lastCount()
			return got == itoa(n), "count " + got
		})
		if n < 3 {
			mustKubectl(t, admin, "", "-n", "default", "patch", "configmap", "lifecycle-tick", "--type=merge",
				"-p", fmt.Sprintf(`{"data":{"n":"%d"}}`, n))
		}
	}
	eventually(t, 30*time.Second, "the Idle guest stays in memory", func() (bool, string) {
		p := phase("lifecycle-counter")
		return p == "Active", p
	})
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "lifecycle-sleep", "--from-literal=x=1")
	eventually(t, time.Minute, "the sleeper's reconcile runs", func() (bool, string) {
		n := metric(t, wasmctl, "wasm_apiserver_running_guests")
		return n >= 1, fmt.Sprintf("%v running", n)
	})

	before, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv.stop(t)
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the server took %v to stop with a reconcile in flight, want under 30s", took)
	}
	after, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	stopLog := string(after[len(before):])
	if lines := errorLine.FindAllString(stopLog, -1); len(lines) > 0 {
		t.Errorf("the server logged errors while it stopped cleanly:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.Contains(stopLog, "Stopped the WasmControllers") {
		t.Errorf("the server's stop log does not say it stopped the controllers:\n%s", stopLog)
	}
	snapshots, _ := filepath.Glob(filepath.Join(srv.stateDir, "snapshots", "default", "lifecycle-counter", "*.snap"))
	if len(snapshots) != 1 {
		t.Fatalf("snapshots of the idle guest after the stop: %v, want one", snapshots)
	}

	srv.start(t)
	waitReady(t, wasmctl, srv)
	waitPhase(t, wasmctl, "lifecycle-counter", loaded, "1")
	// The initial ADDED event of lifecycle-tick wakes the guest once more.
	eventually(t, time.Minute, "restored after the restart, the guest counts 4", func() (bool, string) {
		got := lastCount()
		return got == "4", "count " + got
	})
	for _, name := range []string{"lifecycle-counter", "lifecycle-sleeper"} {
		mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name)
	}
	for _, name := range []string{"lifecycle-tick", "lifecycle-sleep"} {
		mustKubectl(t, admin, "", "-n", "default", "delete", "configmap", name)
	}
}
