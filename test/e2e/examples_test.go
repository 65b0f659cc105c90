//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/test/promtext"
)

// runControllers applies artifacts/ and runs wasm-apiserver standalone
// against the cluster as its ServiceAccount, so that WasmControllers run
// and reconcile real objects. It returns the standalone kubeconfig and the
// server.
func runControllers(t *testing.T, c *cluster, root, work string) (string, *serverProcess) {
	t.Helper()
	return runControllersWith(t, c, root, work)
}

// runControllersWith is runControllers with flags added to the server's.
func runControllersWith(t *testing.T, c *cluster, root, work string, flags ...string) (string, *serverProcess) {
	t.Helper()
	applyArtifacts(t, c.Kubeconfig, root, work)
	// Served standalone, the group is not served through the aggregator.
	unregisterAPIService(t, c.Kubeconfig)
	saConfig := filepath.Join(work, "wasm-apiserver.kubeconfig")
	saKubeconfig(t, c, "wasm-system", "wasm-apiserver", saConfig)
	srv := &serverProcess{bin: buildServer(t, root, work), stateDir: filepath.Join(work, "state"), port: freePort(t),
		args: []string{"--standalone", "--kubeconfig=" + saConfig}, flags: flags}
	if err := os.MkdirAll(srv.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	srv.start(t)
	kubeconfig := filepath.Join(srv.stateDir, "kubeconfig")
	waitReady(t, kubeconfig, srv)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wasm-apiserver log:\n%s", srv.logTail())
		}
	})
	return kubeconfig, srv
}

func waitReady(t *testing.T, kubeconfig string, srv *serverProcess) {
	t.Helper()
	eventually(t, time.Minute, "standalone server ready", func() (bool, string) {
		out, err := kubectl(t, kubeconfig, "", "get", "--raw", "/readyz")
		return err == nil && strings.Contains(out, "ok"), out + srv.logTail()
	})
}

// loaded is the phases of a controller that loaded and wakes on its
// events: Active with a guest instance in memory, Suspended without.
const loaded = "Active|Suspended"

// waitPhase waits until a WasmController reports phase (or one of
// "A|B") at generation.
func waitPhase(t *testing.T, kubeconfig, name, phase, generation string) {
	t.Helper()
	eventually(t, 2*time.Minute, name+" "+phase+" at generation "+generation, func() (bool, string) {
		out, _ := kubectl(t, kubeconfig, "", "-n", "default", "get", "wc", name,
			"-o", `jsonpath={.status.phase} {.status.observedGeneration} {.status.lastError}`)
		for _, p := range strings.Split(phase, "|") {
			if strings.HasPrefix(out, p+" "+generation+" ") {
				return true, out
			}
		}
		return false, out
	})
}

// isLoaded says whether a phase is one of loaded.
func isLoaded(phase string) bool {
	return phase == "Active" || phase == "Suspended"
}

// publishModule builds an example and stores it, gzipped, in a ConfigMap.
func publishModule(t *testing.T, c *cluster, root, name string) {
	t.Helper()
	publishModuleIn(t, c, root, name, "default")
}

// gzippedModule builds an example or test guest and returns it gzipped as
// the examples' READMEs do, with gzip -9: Go's compress/gzip makes a
// larger file, and a Go controller gzipped is just under the 1 MiB a
// ConfigMap holds (the relay guest was 1,048,747 bytes with Go's best
// compression, 1,038,573 with gzip -9).
func gzippedModule(t *testing.T, root, name string) []byte {
	t.Helper()
	if out, err := run(t, "", filepath.Join(root, "test", "guests", "build.sh"), name); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	gz, err := exec.Command("gzip", "-9c", filepath.Join(root, "_output", "guests", name+".wasm")).Output()
	if err != nil {
		t.Fatalf("gzip %s: %v", name, err)
	}
	return gz
}

// deployExample publishes an example's module and applies its RBAC and
// WasmController, and waits until it runs.
func deployExample(t *testing.T, c *cluster, root, wasmctl, name string) {
	t.Helper()
	dir := filepath.Join(root, "examples", name)
	publishModule(t, c, root, name)
	mustKubectl(t, c.Kubeconfig, "", "apply", "-f", filepath.Join(dir, "rbac.yaml"))
	mustKubectl(t, wasmctl, "", "apply", "-f", filepath.Join(dir, "wasmcontroller.yaml"))
	eventually(t, 2*time.Minute, name+" loaded", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name,
			"-o", `jsonpath={.status.phase} {.status.moduleDigest} {.status.conditions[?(@.type=="Ready")].message}`)
		phase, rest, _ := strings.Cut(out, " ")
		return isLoaded(phase) && strings.HasPrefix(rest, "sha256:"), out
	})
}

// TestExamples runs each example controller on the real cluster, in one
// wasm-apiserver, and checks it reconciles real objects.
func TestExamples(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	watchesBefore := settledWatches(t, c, "configmaps")
	wasmctl, srv := runControllers(t, c, root, t.TempDir())
	t.Run("configmap-replicator", func(t *testing.T) { testConfigMapReplicator(t, c, root, wasmctl) })
	t.Run("ttl-cleaner", func(t *testing.T) { testTTLCleaner(t, c, root, wasmctl) })
	t.Run("widget-controller", func(t *testing.T) { testWidgetController(t, c, root, wasmctl) })
	t.Run("guest-view", func(t *testing.T) { testGuestView(t, c, root, wasmctl, watchesBefore) })
	t.Run("wake-rules", func(t *testing.T) { testWakeRules(t, c, root, wasmctl) })
	t.Run("suspend", func(t *testing.T) { testSuspend(t, c, root, wasmctl) })
	t.Run("snapshots", func(t *testing.T) { testSnapshots(t, c, root, wasmctl, srv) })
	t.Run("failing-guests", func(t *testing.T) { testFailingGuests(t, c, root, wasmctl) })
	t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, c, wasmctl, srv) })
}

func testConfigMapReplicator(t *testing.T, c *cluster, root, wasmctl string) {
	admin := c.Kubeconfig
	deployExample(t, c, root, wasmctl, "configmap-replicator")

	mustKubectl(t, admin, "", "create", "namespace", "replica-a")
	mustKubectl(t, admin, "", "label", "namespace", "replica-a", "wasm.io/replicate-configmaps=true")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "shared-settings", "--from-literal=color=blue")
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", "shared-settings", "wasm.io/replicate=true")

	copyData := func() string {
		out, _ := kubectl(t, admin, "", "-n", "replica-a", "get", "configmap", "shared-settings",
			"-o", `jsonpath={.data.color} {.metadata.labels.wasm\.io/replicated-from}`)
		return out
	}
	eventually(t, time.Minute, "the copy appears in replica-a", func() (bool, string) {
		out := copyData()
		return out == "blue default.shared-settings", out
	})
	// The copy was written as the controller's ServiceAccount (the audit log
	// records the impersonation).
	eventually(t, 30*time.Second, "the audit log shows the copy created as the controller's ServiceAccount", func() (bool, string) {
		return auditedAs(t, c, "create", "configmaps", "replica-a", "shared-settings") == "system:serviceaccount:default:configmap-replicator", ""
	})
	mustKubectl(t, admin, "", "-n", "default", "patch", "configmap", "shared-settings", "--type=merge", "-p", `{"data":{"color":"green"}}`)
	eventually(t, time.Minute, "the copy follows the source", func() (bool, string) {
		out := copyData()
		return strings.HasPrefix(out, "green "), out
	})
	mustKubectl(t, admin, "", "-n", "default", "delete", "configmap", "shared-settings")
	eventually(t, time.Minute, "the copy goes with the source", func() (bool, string) {
		out, err := kubectl(t, admin, "", "-n", "replica-a", "get", "configmap", "shared-settings")
		return err != nil && strings.Contains(out, "NotFound"), out
	})

	// The host reports what it did.
	eventually(t, 30*time.Second, "status shows the wakes", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "configmap-replicator", "-o", "jsonpath={.status.wakes} {.status.lastWakeReason}")
		return !strings.HasPrefix(out, "0 ") && !strings.HasPrefix(out, " "), out
	})
	events := mustKubectl(t, admin, "", "-n", "default", "get", "events", "--field-selector", "involvedObject.name=configmap-replicator")
	if !strings.Contains(events, "Loaded") {
		t.Errorf("no Loaded event for the WasmController:\n%s", events)
	}
}

func testTTLCleaner(t *testing.T, c *cluster, root, wasmctl string) {
	admin := c.Kubeconfig
	deployExample(t, c, root, wasmctl, "ttl-cleaner")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "short-lived", "--from-literal=x=1")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "long-lived", "--from-literal=x=1")
	mustKubectl(t, admin, "", "-n", "default", "annotate", "configmap", "short-lived", "wasm.io/ttl=3s")
	mustKubectl(t, admin, "", "-n", "default", "annotate", "configmap", "long-lived", "wasm.io/ttl=1h")
	// The guest asks to be woken when the TTL runs out; the host's timer does it.
	eventually(t, time.Minute, "the expired ConfigMap is deleted", func() (bool, string) {
		out, err := kubectl(t, admin, "", "-n", "default", "get", "configmap", "short-lived")
		return err != nil && strings.Contains(out, "NotFound"), out
	})
	if out, err := kubectl(t, admin, "", "-n", "default", "get", "configmap", "long-lived"); err != nil {
		t.Errorf("a ConfigMap whose TTL has not run out was deleted: %s", out)
	}
}

func testWidgetController(t *testing.T, c *cluster, root, wasmctl string) {
	admin := c.Kubeconfig
	dir := filepath.Join(root, "examples", "widget-controller")
	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(dir, "crd.yaml"))
	eventually(t, time.Minute, "the Widget CRD is established", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "get", "crd", "widgets.demo.wasm.io", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return out == "True", out
	})
	deployExample(t, c, root, wasmctl, "widget-controller")
	widget := `apiVersion: demo.wasm.io/v1
kind: Widget
metadata: {name: hello, namespace: default}
spec: {replicas: 3, message: hi there}
`
	mustKubectl(t, admin, widget, "apply", "-f", "-")
	children := func() string {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "configmaps", "-l", "demo.wasm.io/widget=hello",
			"-o", `jsonpath={range .items[*]}{.metadata.name}={.data.message},{.metadata.ownerReferences[0].kind} {end}`)
		return strings.TrimSpace(out)
	}
	eventually(t, time.Minute, "three children owned by the Widget", func() (bool, string) {
		out := children()
		return out == "hello-0=hi there,Widget hello-1=hi there,Widget hello-2=hi there,Widget", out
	})
	eventually(t, time.Minute, "status written through the subresource", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "widget", "hello", "-o", "jsonpath={.status.readyReplicas} {.status.observedGeneration}")
		return out == "3 1", out
	})
	mustKubectl(t, admin, "", "-n", "default", "patch", "widget", "hello", "--type=merge", "-p", `{"spec":{"replicas":1}}`)
	eventually(t, time.Minute, "extra children deleted", func() (bool, string) {
		out := children()
		return out == "hello-0=hi there,Widget", out
	})
	// A child deleted by someone else comes back: enqueueOwner maps it to its Widget.
	mustKubectl(t, admin, "", "-n", "default", "delete", "configmap", "hello-0")
	eventually(t, time.Minute, "a deleted child is recreated", func() (bool, string) {
		out := children()
		return out == "hello-0=hi there,Widget", out
	})
}

// testLifecycle changes, pauses, restarts and deletes the replicator.
func testLifecycle(t *testing.T, c *cluster, wasmctl string, srv *serverProcess) {
	admin := c.Kubeconfig
	copied := func(name string) func() (bool, string) {
		return func() (bool, string) {
			out, err := kubectl(t, admin, "", "-n", "replica-a", "get", "configmap", name, "-o", "name")
			return err == nil, out
		}
	}
	source := func(name string) {
		mustKubectl(t, admin, "", "-n", "default", "create", "configmap", name, "--from-literal=x=1")
		mustKubectl(t, admin, "", "-n", "default", "label", "configmap", name, "wasm.io/replicate=true")
	}

	// A spec change reloads the controller at the new generation.
	mustKubectl(t, wasmctl, "", "-n", "default", "patch", "wc", "configmap-replicator", "--type=merge", "-p", `{"spec":{"resyncPeriod":"5m"}}`)
	waitPhase(t, wasmctl, "configmap-replicator", loaded, "2")

	// Paused, it does not run; unpaused, it catches up.
	mustKubectl(t, wasmctl, "", "-n", "default", "patch", "wc", "configmap-replicator", "--type=merge", "-p", `{"spec":{"paused":true}}`)
	waitPhase(t, wasmctl, "configmap-replicator", "Paused", "3")
	source("while-paused")
	time.Sleep(3 * time.Second) // a paused controller must not act in this time
	if ok, _ := copied("while-paused")(); ok {
		t.Errorf("a paused controller copied a ConfigMap")
	}
	mustKubectl(t, wasmctl, "", "-n", "default", "patch", "wc", "configmap-replicator", "--type=merge", "-p", `{"spec":{"paused":false}}`)
	waitPhase(t, wasmctl, "configmap-replicator", loaded, "4")
	eventually(t, time.Minute, "unpaused, the controller catches up", copied("while-paused"))

	// A restarted server runs every controller again.
	srv.stop(t)
	srv.start(t)
	waitReady(t, wasmctl, srv)
	for _, name := range []string{"configmap-replicator", "ttl-cleaner", "widget-controller"} {
		eventually(t, 2*time.Minute, name+" loaded after a restart", func() (bool, string) {
			out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name, "-o", "jsonpath={.status.phase}")
			return isLoaded(out), out
		})
	}
	source("after-restart")
	eventually(t, time.Minute, "after a restart, the controller reconciles", copied("after-restart"))

	// Deleting the WasmController stops it: a new source is not copied.
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "configmap-replicator")
	time.Sleep(2 * time.Second)
	source("after-delete")
	time.Sleep(3 * time.Second)
	if out, err := kubectl(t, admin, "", "-n", "replica-a", "get", "configmap", "after-delete"); err == nil {
		t.Errorf("a deleted WasmController still reconciles:\n%s", out)
	}
}

// testFailingGuests runs a guest that traps and a module that is not Wasm:
// each shows in its own status and Events, and harms nothing else.
func testFailingGuests(t *testing.T, c *cluster, root, wasmctl string) {
	admin := c.Kubeconfig
	publishModule(t, c, root, "trap")
	grantWatch(t, admin, "default", "default", "configmaps")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "not-wasm-module", "--from-literal=module.wasm.gz=hello")
	for _, wc := range []string{"trap", "not-wasm"} {
		mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: `+wc+`, namespace: default}
spec:
  module:
    configMapRef: {name: `+wc+`-module, key: module.wasm.gz}
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=trap-trigger
`, "apply", "-f", "-")
	}
	eventually(t, time.Minute, "the non-Wasm module is refused with a condition", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "not-wasm",
			"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].reason} {.status.conditions[?(@.type=="ModuleLoaded")].message}`)
		return strings.HasPrefix(out, "Failed NotWasm not a WebAssembly module"), out
	})
	waitPhase(t, wasmctl, "trap", loaded, "1")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "trap-trigger", "--from-literal=x=1")
	eventually(t, time.Minute, "the trap shows in status", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "trap",
			"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="Ready")].reason} {.status.lastError}`)
		phase, rest, _ := strings.Cut(out, " ")
		return isLoaded(phase) && strings.HasPrefix(rest, "GuestTrapped guest trapped"), out
	})
	eventually(t, 30*time.Second, "a ReconcileFailed Event", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "events", "--field-selector", "involvedObject.name=trap,reason=ReconcileFailed", "-o", "name")
		return strings.TrimSpace(out) != "", out
	})
	// The others keep working while it fails and is retried.
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "during-trap", "--from-literal=x=1")
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", "during-trap", "wasm.io/replicate=true")
	eventually(t, time.Minute, "another controller reconciles meanwhile", func() (bool, string) {
		out, err := kubectl(t, admin, "", "-n", "replica-a", "get", "configmap", "during-trap", "-o", "name")
		return err == nil, out
	})
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "trap", "not-wasm")
}

// apiserverMetric sums the samples of a kube-apiserver metric whose labels
// include every one of the given label="value" pairs.
func apiserverMetric(t *testing.T, c *cluster, name string, labels ...string) float64 {
	t.Helper()
	return metric(t, c.Kubeconfig, name, labels...)
}

// metric sums the samples of a metric of the server kubeconfig points at
// whose labels include every one of the given label="value" pairs.
func metric(t *testing.T, kubeconfig, name string, labels ...string) float64 {
	t.Helper()
	sum, err := promtext.Sum([]byte(mustKubectl(t, kubeconfig, "", "get", "--raw", "/metrics")), name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// settledWatches returns kube-apiserver's watches of resource once the
// cluster's own have started: kube-controller-manager's garbage collector
// and quota controller watch every resource from their first sync, up to
// half a minute after the cluster starts, which a test that counts the
// watches wasm-apiserver adds must not take for one of them. It waits
// until kube-apiserver has run for a minute, then for the count to hold
// for 3 s.
func settledWatches(t *testing.T, c *cluster, resource string) float64 {
	t.Helper()
	const settle = time.Minute
	started := apiserverMetric(t, c, "process_start_time_seconds")
	if up := time.Since(time.Unix(int64(started), 0)); started > 0 && up < settle {
		time.Sleep(settle - up)
	}
	count := func() float64 {
		return apiserverMetric(t, c, "apiserver_longrunning_requests", `resource="`+resource+`"`, `verb="WATCH"`)
	}
	last, since := count(), time.Now()
	eventually(t, 2*time.Minute, "kube-apiserver's "+resource+" watches hold for 3 s", func() (bool, string) {
		if now := count(); now != last {
			last, since = now, time.Now()
		}
		return time.Since(since) >= 3*time.Second, fmt.Sprint(last)
	})
	return last
}

// testGuestView checks the guests' view of the cluster: one watch per
// resource however many controllers, reads from the cache with no request
// to the API server, and RBAC for reads of what the cache holds.
func testGuestView(t *testing.T, c *cluster, root, wasmctl string, watchesBefore float64) {
	admin := c.Kubeconfig
	// Four watches of ConfigMaps across three controllers: one informer.
	if got := apiserverMetric(t, c, "apiserver_longrunning_requests", `resource="configmaps"`, `verb="WATCH"`); got != watchesBefore+1 {
		t.Errorf("ConfigMap watches on kube-apiserver: %v, want %v (one more than before wasm-apiserver ran)", got, watchesBefore+1)
	}

	publishModule(t, c, root, "echo")
	echo := func(name, resource, kind string) string {
		return `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: ` + name + `, namespace: default}
spec:
  module:
    configMapRef: {name: echo-module, key: module.wasm.gz}
  serviceAccountName: ` + name + `
  env: [{name: ECHO_RESOURCE, value: ` + resource + `}]
  watches:
  - apiVersion: v1
    kind: ` + kind + `
    namespace: default
    labelSelector: {matchLabels: {echo: trigger}}
`
	}
	// echo-reader may read ConfigMaps; echo-secrets may not read Secrets.
	mustKubectl(t, admin, "", "-n", "default", "create", "role", "read-configmaps", "--verb=get,list,watch", "--resource=configmaps")
	mustKubectl(t, admin, "", "-n", "default", "create", "rolebinding", "echo-reader", "--role=read-configmaps", "--serviceaccount=default:echo-reader")
	mustKubectl(t, wasmctl, echo("echo-reader", "configmaps", "ConfigMap"), "apply", "-f", "-")
	mustKubectl(t, wasmctl, echo("echo-secrets", "secrets", "Secret"), "apply", "-f", "-")
	waitPhase(t, wasmctl, "echo-reader", loaded, "1")

	reads := func() float64 {
		return apiserverMetric(t, c, "apiserver_request_total", `resource="configmaps"`, `verb="GET"`) +
			apiserverMetric(t, c, "apiserver_request_total", `resource="configmaps"`, `verb="LIST"`)
	}
	wakes := func() int {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "echo-reader", "-o", "jsonpath={.status.wakes}")
		n := 0
		_, _ = fmt.Sscan(out, &n)
		return n
	}
	// Five new ConfigMaps wake echo-reader five times; kubectl create only
	// POSTs them, so any GET or LIST counted would be the guest's.
	var triggers strings.Builder
	for i := range 5 {
		fmt.Fprintf(&triggers, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: echo-%d, namespace: default, labels: {echo: trigger}}\n", i)
	}
	before := reads()
	mustKubectl(t, admin, triggers.String(), "create", "-f", "-")
	eventually(t, time.Minute, "echo-reader woke for each ConfigMap and read it", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "echo-reader", "-o", "jsonpath={.status.wakes} {.status.lastError}")
		return wakes() >= 5 && strings.HasSuffix(out, " "), out
	})
	if after := reads(); after != before {
		t.Errorf("ConfigMap GET+LIST on kube-apiserver went from %v to %v while the guest read from the cache", before, after)
	}

	// A guest reads only what its watches select, though its ServiceAccount
	// may read more: echo-narrow is sent to read echo-hidden, which has not
	// its watch's label, and finds nothing until the label is added.
	mustKubectl(t, admin, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: echo-hidden, namespace: default}\n", "apply", "-f", "-")
	mustKubectl(t, wasmctl, `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: echo-narrow, namespace: default}
spec:
  module:
    configMapRef: {name: echo-module, key: module.wasm.gz}
  serviceAccountName: echo-reader
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    labelSelector: {matchLabels: {echo: trigger}}
    enqueue: "['default/echo-hidden']"
`, "apply", "-f", "-")
	lastError := func() string {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "echo-narrow", "-o", "jsonpath={.status.lastError}")
		return out
	}
	eventually(t, time.Minute, "an object outside the watch's selector is not found", func() (bool, string) {
		out := lastError()
		return strings.Contains(out, "status 404 NotFound"), out // the key is redacted
	})
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", "echo-hidden", "echo=trigger")
	eventually(t, time.Minute, "the object is read once the watch selects it", func() (bool, string) {
		out := lastError()
		return out == "", out
	})
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "echo-narrow")
	mustKubectl(t, admin, "", "-n", "default", "delete", "configmap", "echo-hidden")

	// echo-secrets watches Secrets its ServiceAccount may not read: it is
	// refused at load, and no Secret reaches it.
	watchForbidden := func(name string) func() (bool, string) {
		return func() (bool, string) {
			out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name,
				"-o", `jsonpath={.status.conditions[?(@.type=="WatchesReady")].status} {.status.conditions[?(@.type=="WatchesReady")].reason}`)
			return out == "False WatchForbidden", out
		}
	}
	eventually(t, time.Minute, "echo-secrets is refused the Secrets it watches", watchForbidden("echo-secrets"))
	// Revoking the RoleBinding takes effect at once: RBAC changes drop the
	// remembered answers and check the running controllers' watches again.
	mustKubectl(t, admin, "", "-n", "default", "delete", "rolebinding", "echo-reader")
	eventually(t, 30*time.Second, "a revoked watch is refused at once", watchForbidden("echo-reader"))
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "echo-reader", "echo-secrets")
}

// auditedAs returns the impersonated user of the last audited request with
// this verb on this object, or "" when there is none.
func auditedAs(t *testing.T, c *cluster, verb, resource, namespace, name string) string {
	t.Helper()
	var user string
	for _, line := range strings.Split(string(mustRead(t, filepath.Join(c.Dir, "audit.log"))), "\n") {
		var ev struct {
			Verb             string
			ObjectRef        struct{ Resource, Namespace, Name string }
			ImpersonatedUser *struct{ Username string }
		}
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Verb != verb || ev.ObjectRef.Resource != resource ||
			ev.ObjectRef.Namespace != namespace || ev.ObjectRef.Name != name {
			continue
		}
		user = ""
		if ev.ImpersonatedUser != nil {
			user = ev.ImpersonatedUser.Username
		}
	}
	return user
}
