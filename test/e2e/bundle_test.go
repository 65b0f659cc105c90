//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// TestBundle runs two WasmControllers from the example bundle, each
// selecting another of its reconcilers, on one server: both reconcile real
// objects with their own reconciler, and they share one compiled module. A
// third names a reconciler the bundle does not hold and fails to load with a
// condition that says so.
func TestBundle(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	// The bundle is over what a ConfigMap holds: it comes from a registry,
	// on 127.0.0.1 and so named to the server.
	reg := modulestest.NewRegistry(t)
	wasmctl, srv := runControllersWith(t, c, root, t.TempDir(), "--insecure-registry="+reg.Host)
	if out, err := run(t, "", filepath.Join(root, "test", "guests", "build.sh"), "bundle"); err != nil {
		t.Fatalf("building the bundle: %v\n%s", err, out)
	}
	ref := reg.Ref("controllers/bundle:v1")
	if out, err := run(t, "", srv.bin, "module", "push", filepath.Join(root, "_output", "guests", "bundle.wasm"), ref); err != nil {
		t.Fatalf("wasm-apiserver module push: %v\n%s", err, out)
	}

	// The examples' manifests for the bundle, with the image pushed here.
	manifest := func(reconciler string) string {
		m := string(mustRead(t, filepath.Join(root, "examples", "bundle", reconciler+".yaml")))
		const image = "image: registry.example.com/controllers/bundle:v1"
		if !strings.Contains(m, image) {
			t.Fatalf("the bundle's %s manifest no longer names its image as this test expects:\n%s", reconciler, m)
		}
		return strings.Replace(m, image, "image: "+ref, 1)
	}
	deploy := func(name, m string) {
		mustKubectl(t, wasmctl, m, "apply", "-f", "-")
		t.Cleanup(func() { _, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name, "--ignore-not-found") })
	}
	digestOf := func(name string) string {
		var digest string
		eventually(t, 2*time.Minute, name+" loaded", func() (bool, string) {
			out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name, "-o", `jsonpath={.status.phase} {.status.moduleDigest} {.status.lastError}`)
			phase, rest, _ := strings.Cut(out, " ")
			digest, _, _ = strings.Cut(rest, " ")
			return isLoaded(phase) && strings.HasPrefix(digest, "sha256:"), out
		})
		return digest
	}
	for _, name := range []string{"configmap-replicator", "ttl-cleaner"} {
		mustKubectl(t, admin, "", "apply", "-f", filepath.Join(root, "examples", name, "rbac.yaml"))
	}
	deploy("bundle-configmap-replicator", manifest("configmap-replicator"))
	replicatorDigest := digestOf("bundle-configmap-replicator")
	compiled := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes")
	deploy("bundle-ttl-cleaner", manifest("ttl-cleaner"))
	if d := digestOf("bundle-ttl-cleaner"); d != replicatorDigest {
		t.Errorf("the two controllers of the bundle run modules %s and %s", replicatorDigest, d)
	}
	// One compiled module for both: the second controller compiled nothing.
	if got := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes"); got != compiled || got == 0 {
		t.Errorf("compiled module bytes %v after the second controller of the bundle, %v after the first", got, compiled)
	}
	wide := mustKubectl(t, wasmctl, "", "-n", "default", "get", "wc", "bundle-configmap-replicator", "bundle-ttl-cleaner", "-o", "wide")
	if !strings.Contains(wide, "RECONCILER") || !strings.Contains(wide, " configmap-replicator ") || !strings.Contains(wide, " ttl-cleaner ") {
		t.Errorf("kubectl get -o wide does not show each controller's reconciler:\n%s", wide)
	}

	// Each runs its own reconciler: the replicator copies, the cleaner deletes.
	ns, source := "bundle-target", "bundle-settings"
	mustKubectl(t, admin, "", "create", "namespace", ns)
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", source, "bundle-short-lived", "--ignore-not-found")
	})
	mustKubectl(t, admin, "", "label", "namespace", ns, "wasm.io/replicate-configmaps=true")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", source, "--from-literal=color=amber")
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", source, "wasm.io/replicate=true")
	eventually(t, time.Minute, "the bundle's replicator copies the ConfigMap", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", ns, "get", "configmap", source, "-o", `jsonpath={.data.color} {.metadata.labels.wasm\.io/replicated-from}`)
		return out == "amber default."+source, out
	})
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", "bundle-short-lived", "--from-literal=x=1")
	mustKubectl(t, admin, "", "-n", "default", "annotate", "configmap", "bundle-short-lived", "wasm.io/ttl=3s")
	eventually(t, time.Minute, "the bundle's ttl-cleaner deletes the expired ConfigMap", func() (bool, string) {
		out, err := kubectl(t, admin, "", "-n", "default", "get", "configmap", "bundle-short-lived")
		return err != nil && strings.Contains(out, "NotFound"), out
	})
	// The cleaner never ran the replicator's reconciler: the copy of a
	// source it woke for is the replicator's alone, and it deleted nothing
	// without a TTL.
	if out, err := kubectl(t, admin, "", "-n", ns, "get", "configmap", source, "-o", "name"); err != nil {
		t.Errorf("the copy is gone: %s", out)
	}

	// A reconciler the bundle does not hold: a condition, not a crash loop.
	unknown := strings.NewReplacer("name: bundle-ttl-cleaner\n", "name: bundle-unknown\n",
		"reconciler: ttl-cleaner\n", "reconciler: garbage-collector\n").Replace(manifest("ttl-cleaner"))
	deploy("bundle-unknown", unknown)
	const wantMsg = `spec.module.reconciler: the module cannot run reconciler "garbage-collector": the module has no reconciler named "garbage-collector"; it has: configmap-replicator, ttl-cleaner, widget-controller`
	eventually(t, time.Minute, "ModuleLoaded False with reason ReconcilerNotFound", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "bundle-unknown",
			"-o", `jsonpath={.status.phase}|{.status.conditions[?(@.type=="ModuleLoaded")].status}|{.status.conditions[?(@.type=="ModuleLoaded")].reason}|{.status.conditions[?(@.type=="ModuleLoaded")].message}`)
		return out == "Failed|False|ReconcilerNotFound|"+wantMsg, out
	})
	eventually(t, 30*time.Second, "a Warning Event with reason ReconcilerNotFound", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "events", "--field-selector",
			"involvedObject.name=bundle-unknown,reason=ReconcilerNotFound", "-o", "jsonpath={.items[*].count}")
		return out != "", out
	})
	// It waits for a change of the spec: no load again, so no new Event.
	time.Sleep(5 * time.Second)
	if out := mustKubectl(t, admin, "", "-n", "default", "get", "events", "--field-selector",
		"involvedObject.name=bundle-unknown,reason=ReconcilerNotFound", "-o", "jsonpath={.items[*].count}"); out != "1" {
		t.Errorf("ReconcilerNotFound Events counted %q, want one: the load is retried", out)
	}
	// Fixed by the spec, it runs.
	mustKubectl(t, wasmctl, "", "-n", "default", "patch", "wc", "bundle-unknown", "--type=merge", "-p", `{"spec":{"module":{"reconciler":"ttl-cleaner"}}}`)
	waitPhase(t, wasmctl, "bundle-unknown", loaded, "2")
	if got := metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes"); got != compiled {
		t.Errorf("compiled module bytes %v with three controllers of the bundle, %v with one", got, compiled)
	}
}
