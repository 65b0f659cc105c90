//go:build e2e

package e2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGuestEvents runs the widget-controller, which records Events on its
// Widgets with the SDK's EventRecorder, and checks that they reach the
// cluster within the reconcile: kubectl describe shows them, they are
// written as the controller's ServiceAccount, and a repeated Event raises
// the count of one Event instead of making more.
func TestGuestEvents(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, _ := runControllers(t, c, root, t.TempDir())
	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(root, "examples", "widget-controller", "crd.yaml"))
	eventually(t, time.Minute, "the Widget CRD is established", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "get", "crd", "widgets.demo.wasm.io", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return out == "True", out
	})
	deployExample(t, c, root, wasmctl, "widget-controller")
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "widget", "events-ok", "events-bad", "--ignore-not-found", "--wait=false")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", "events-bad-0", "--ignore-not-found")
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "widget-controller", "--ignore-not-found")
	})

	mustKubectl(t, admin, `apiVersion: demo.wasm.io/v1
kind: Widget
metadata: {name: events-ok, namespace: default}
spec: {replicas: 2, message: hi}
`, "apply", "-f", "-")
	eventually(t, time.Minute, "kubectl describe shows the guest's Synced Event", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "describe", "widget", "events-ok")
		events := out[strings.Index(out, "Events:")+1:]
		return strings.Contains(events, "Normal") && strings.Contains(events, "Synced") &&
			strings.Contains(events, "widget-controller") &&
			strings.Contains(events, "Created 2, updated 0 and deleted 0 ConfigMaps; 2 of 2 ready"), out
	})
	name := mustKubectl(t, admin, "", "-n", "default", "get", "events",
		"--field-selector", "involvedObject.kind=Widget,involvedObject.name=events-ok,reason=Synced", "-o", "jsonpath={.items[0].metadata.name}")
	eventually(t, 30*time.Second, "the audit log shows the Event created as the controller's ServiceAccount", func() (bool, string) {
		user := auditedAs(t, c, "create", "events", "default", name)
		return user == "system:serviceaccount:default:widget-controller", "created as " + user
	})

	// A Widget whose child name is taken fails every reconcile; the host
	// retries it, and each retry repeats the same Warning.
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "events-bad-0", "--from-literal=x=1")
	mustKubectl(t, admin, `apiVersion: demo.wasm.io/v1
kind: Widget
metadata: {name: events-bad, namespace: default}
spec: {replicas: 1, message: hi}
`, "apply", "-f", "-")
	failures := func() (string, int) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "events",
			"--field-selector", "involvedObject.kind=Widget,involvedObject.name=events-bad,reason=SyncFailed",
			"-o", `jsonpath={range .items[*]}{.count} {end}`)
		counts := strings.Fields(out)
		if len(counts) == 0 {
			return out, 0
		}
		n, _ := strconv.Atoi(counts[0])
		return out, n
	}
	eventually(t, 2*time.Minute, "one SyncFailed Event whose count rises with the retries", func() (bool, string) {
		out, n := failures()
		return len(strings.Fields(out)) == 1 && n >= 3, "counts: " + out
	})
	out := mustKubectl(t, admin, "", "-n", "default", "describe", "widget", "events-bad")
	if !strings.Contains(out, "Warning") || !strings.Contains(out, "ConfigMap default/events-bad-0 exists and is not owned by the Widget") {
		t.Errorf("kubectl describe shows no SyncFailed warning:\n%s", out)
	}
	name = mustKubectl(t, admin, "", "-n", "default", "get", "events",
		"--field-selector", "involvedObject.name=events-bad,reason=SyncFailed", "-o", "jsonpath={.items[0].metadata.name}")
	if user := auditedAs(t, c, "patch", "events", "default", name); user != "system:serviceaccount:default:widget-controller" {
		t.Errorf("the count of the Event was patched as %q", user)
	}
}
