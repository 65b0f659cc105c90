//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
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
	wasmctl, srv := runControllers(t, c, root, t.TempDir())
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

	t.Run("client-go", func(t *testing.T) { testClientGoEvents(t, c, root, wasmctl, srv) })
}

// clientGoEventsManifests is the RBAC and WasmController of the client-go
// test guest, its module served from MODULE_URL.
const clientGoEventsManifests = `apiVersion: v1
kind: ServiceAccount
metadata: {name: clientgo-events, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: clientgo-events, namespace: default}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: clientgo-events, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: clientgo-events}
subjects:
- {kind: ServiceAccount, name: clientgo-events, namespace: default}
`

const clientGoEventsController = `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: clientgo-events, namespace: default}
spec:
  module:
    url: MODULE_URL
    sha256: "MODULE_SHA256"
  serviceAccountName: clientgo-events
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    labelSelector:
      matchLabels: {e2e.wasm.io/record-events: "true"}
    wakeWhen: eventType != 'DELETED'
  limits:
    memory: 128Mi
    reconcileTimeout: 1m
`

// testClientGoEvents runs the client-go test guest, which records an Event
// with client-go's own recorder and one with the SDK's used as a
// record.EventRecorder: both reach the cluster, though the guest's
// goroutines run only within its reconciles.
func testClientGoEvents(t *testing.T, c *cluster, root, wasmctl string, srv *serverProcess) {
	admin := c.Kubeconfig
	if out, err := run(t, "", filepath.Join(root, "test", "guests", "build.sh"), "clientgo"); err != nil {
		t.Fatalf("building clientgo: %v\n%s", err, out)
	}
	module := mustRead(t, filepath.Join(root, "_output", "guests", "clientgo.wasm"))
	sum := sha256.Sum256(module)
	// 57 MB fits no ConfigMap: serve it over HTTPS, trusted as the
	// administrator would trust a CA.
	files := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(module)
	}))
	defer files.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: files.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.stop(t)
	srv.env = append(srv.env, "SSL_CERT_FILE="+ca)
	srv.flags = append(srv.flags, "--allow-local-module-urls", "--compiled-module-budget=2Gi")
	srv.start(t)
	waitReady(t, wasmctl, srv)

	mustKubectl(t, admin, clientGoEventsManifests, "apply", "-f", "-")
	mustKubectl(t, wasmctl, strings.NewReplacer("MODULE_URL", files.URL+"/clientgo.wasm", "MODULE_SHA256", hex.EncodeToString(sum[:])).
		Replace(clientGoEventsController), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "clientgo-events", "--ignore-not-found")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", "clientgo-events", "--ignore-not-found")
	})
	eventually(t, 5*time.Minute, "the client-go guest loads", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "clientgo-events", "-o", "jsonpath={.status.phase} {.status.lastError}")
		return isLoaded(strings.Fields(out + " x")[0]), out
	})
	mustKubectl(t, admin, `apiVersion: v1
kind: ConfigMap
metadata:
  name: clientgo-events
  namespace: default
  labels: {e2e.wasm.io/record-events: "true"}
data: {a: "1"}
`, "apply", "-f", "-")
	eventually(t, 3*time.Minute, "kubectl describe shows both recorders' Events", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "describe", "configmap", "clientgo-events")
		return strings.Contains(out, "RecordedByClientGo") && strings.Contains(out, "RecordedBySDK") &&
			strings.Contains(out, "seen with 1 keys"), out + srv.logTail()
	})
}
