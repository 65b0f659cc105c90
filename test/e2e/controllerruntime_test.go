//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// TestMemcachedOperator runs the kubebuilder-style example, a
// controller-runtime Reconciler and client in a guest, published to an OCI
// registry as a module of its size must be: a Memcached gets a Deployment
// it owns (created as the controller's ServiceAccount, scaled with the
// spec, recreated when deleted), a Service applied with server-side apply
// under the controller's field manager, and its status written through
// the status subresource.
func TestMemcachedOperator(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	const name = "memcached-operator"
	dir := filepath.Join(root, "examples", name)
	reg := modulestest.NewRegistry(t)
	// The guest's compiled code is several hundred MiB: a budget that
	// holds it keeps it compiled between wakes.
	wasmctl, srv := runControllersWith(t, c, root, t.TempDir(),
		"--insecure-registry="+reg.Host, "--compiled-module-budget=2Gi")

	if out, err := run(t, "", filepath.Join(root, "test", "guests", "build.sh"), name); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	ref := reg.Ref("controllers/" + name + ":v1")
	if out, err := run(t, "", srv.bin, "module", "push", filepath.Join(root, "_output", "guests", name+".wasm"), ref); err != nil {
		t.Fatalf("wasm-apiserver module push: %v\n%s", err, out)
	}

	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(dir, "crd.yaml"))
	eventually(t, time.Minute, "the Memcached CRD is established", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "get", "crd", "memcacheds.cache.example.com",
			"-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return out == "True", out
	})
	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(dir, "rbac.yaml"))
	manifest := string(mustRead(t, filepath.Join(dir, "wasmcontroller.yaml")))
	const image = "registry.example.com/controllers/memcached-operator:v0.1.0"
	if !strings.Contains(manifest, "image: "+image+"\n") {
		t.Fatalf("the example no longer names its module as this test expects:\n%s", manifest)
	}
	mustKubectl(t, wasmctl, strings.Replace(manifest, image, ref, 1), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "memcached", "cache", "--ignore-not-found")
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name, "--ignore-not-found")
	})
	eventually(t, 5*time.Minute, name+" loaded from the image", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name,
			"-o", `jsonpath={.status.phase} {.status.moduleDigest} {.status.lastError}`)
		phase, rest, _ := strings.Cut(out, " ")
		return isLoaded(phase) && strings.HasPrefix(rest, "sha256:"), out
	})

	mustKubectl(t, admin, `apiVersion: cache.example.com/v1alpha1
kind: Memcached
metadata: {name: cache, namespace: default}
spec: {size: 2}
`, "apply", "-f", "-")
	uid := mustKubectl(t, admin, "", "-n", "default", "get", "memcached", "cache", "-o", "jsonpath={.metadata.uid}")
	deployment := func() string {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "deployment", "cache", "-o",
			`jsonpath={.spec.replicas} {.metadata.ownerReferences[?(@.controller==true)].kind} {.metadata.ownerReferences[?(@.controller==true)].uid}`)
		return out
	}
	eventually(t, 3*time.Minute, "a Deployment of 2 replicas owned by the Memcached", func() (bool, string) {
		out := deployment()
		return out == "2 Memcached "+uid, out + srv.logTail()
	})
	eventually(t, 30*time.Second, "the Deployment created as the controller's ServiceAccount", func() (bool, string) {
		user := auditedAs(t, c, "create", "deployments", "default", "cache")
		return user == "system:serviceaccount:default:"+name, user
	})
	eventually(t, time.Minute, "the Service applied by the controller's field manager and owned by the Memcached", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "service", "cache", "--show-managed-fields", "-o",
			`jsonpath={.metadata.managedFields[?(@.manager=="memcached-operator")].operation} {.metadata.ownerReferences[0].uid} {.spec.ports[0].port}`)
		return out == "Apply "+uid+" 11211", out
	})
	eventually(t, time.Minute, "the Memcached's status written through the subresource", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "memcached", "cache", "-o",
			`jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.observedGeneration}`)
		return out == "True 1", out
	})
	if user := auditedAs(t, c, "update", "memcacheds", "default", "cache"); user != "system:serviceaccount:default:"+name {
		t.Errorf("the status was updated as %q", user)
	}

	// The spec changes: the Deployment follows.
	mustKubectl(t, admin, "", "-n", "default", "patch", "memcached", "cache", "--type=merge", "-p", `{"spec":{"size":3}}`)
	eventually(t, time.Minute, "the Deployment scaled to 3", func() (bool, string) {
		out := deployment()
		return strings.HasPrefix(out, "3 "), out
	})
	eventually(t, time.Minute, "status at generation 2", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "memcached", "cache", "-o", "jsonpath={.status.observedGeneration}")
		return out == "2", out
	})
	// A deleted Deployment comes back: enqueueOwner wakes its Memcached.
	depUID := func() string {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "deployment", "cache", "-o", "jsonpath={.metadata.uid}")
		return out
	}
	old := depUID()
	mustKubectl(t, admin, "", "-n", "default", "delete", "deployment", "cache", "--cascade=orphan")
	eventually(t, time.Minute, "the deleted Deployment is recreated", func() (bool, string) {
		out := deployment()
		return out == "3 Memcached "+uid && depUID() != old, out
	})
	// The client's Gets were answered from the host's cache: two per
	// reconcile (the Memcached, its Deployment), three reconciles at least.
	if reads := metric(t, wasmctl, "wasm_apiserver_guest_api_requests_total", `controller="default/`+name+`"`, `source="cache"`); reads < 6 {
		t.Errorf("%v reads served from the cache, want at least 6", reads)
	}
	out := mustKubectl(t, wasmctl, "", "-n", "default", "get", "wc", name, "-o",
		"jsonpath={.status.wakes} {.status.memoryBytes} {.status.lastError}")
	t.Logf("wakes, memoryBytes, lastError: %s; compiled code (estimated): %.0f bytes", out,
		metric(t, wasmctl, "wasm_apiserver_compiled_module_bytes"))
}
