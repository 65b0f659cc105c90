//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// sampleControllerImage is the image examples/sample-controller's
// wasmcontroller.yaml names, which a user replaces with their own.
const sampleControllerImage = "image: registry.example.com/controllers/sample-controller:v1"

// TestExample_SampleController deploys the port of kubernetes/sample-controller
// as its README does (the CRD, the RBAC, the module pushed to a registry with
// `wasm-apiserver module push`, the WasmController naming it) and checks what
// the original does: a Foo gets a Deployment controlled by it, whose replicas
// follow the Foo's and which comes back when deleted; the Foo's status reports
// the Deployment's available replicas; Synced Events are recorded on the Foo;
// and a Deployment the Foo does not own is left alone with an
// ErrResourceExists warning.
func TestExample_SampleController(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	dir := filepath.Join(root, "examples", "sample-controller")
	reg := modulestest.NewRegistry(t)
	wasmctl, srv := runControllersWith(t, c, root, t.TempDir(), "--insecure-registry="+reg.Host)

	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(dir, "crd.yaml"))
	eventually(t, time.Minute, "the Foo CRD is established", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "get", "crd", "foos.samplecontroller.k8s.io", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return out == "True", out
	})
	if out, err := run(t, "", filepath.Join(root, "test", "guests", "build.sh"), "sample-controller"); err != nil {
		t.Fatalf("building sample-controller: %v\n%s", err, out)
	}
	ref := reg.Ref("controllers/sample-controller:v1")
	if out, err := run(t, "", srv.bin, "module", "push", filepath.Join(root, "_output", "guests", "sample-controller.wasm"), ref); err != nil {
		t.Fatalf("wasm-apiserver module push: %v\n%s", err, out)
	}
	manifest := string(mustRead(t, filepath.Join(dir, "wasmcontroller.yaml")))
	if !strings.Contains(manifest, sampleControllerImage) {
		t.Fatalf("the example no longer names its module as this test expects:\n%s", manifest)
	}
	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(dir, "rbac.yaml"))
	mustKubectl(t, wasmctl, strings.Replace(manifest, sampleControllerImage, "image: "+ref, 1), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "foos", "--all", "--wait=false")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "deployment", "sample-taken", "--ignore-not-found", "--wait=false")
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "sample-controller", "--ignore-not-found")
	})
	eventually(t, 5*time.Minute, "sample-controller loaded from the image", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "sample-controller",
			"-o", `jsonpath={.status.phase} {.status.moduleDigest} {.status.lastError}`)
		phase, rest, _ := strings.Cut(out, " ")
		return isLoaded(phase) && strings.HasPrefix(rest, "sha256:"), out + srv.logTail()
	})

	mustKubectl(t, admin, `apiVersion: samplecontroller.k8s.io/v1alpha1
kind: Foo
metadata: {name: example-foo, namespace: default}
spec: {deploymentName: example-foo-nginx, replicas: 1}
`, "apply", "-f", "-")
	// The Deployment's name is not the Foo's: only its owner reference maps
	// it back to the Foo.
	fooUID := mustKubectl(t, admin, "", "-n", "default", "get", "foo", "example-foo", "-o", "jsonpath={.metadata.uid}")
	deployment := func() string {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "deployment", "example-foo-nginx", "-o",
			`jsonpath={.spec.replicas} {.metadata.ownerReferences[?(@.controller==true)].kind}/{.metadata.ownerReferences[?(@.controller==true)].name}/{.metadata.ownerReferences[?(@.controller==true)].uid}`)
		return out
	}
	owned := " Foo/example-foo/" + fooUID
	eventually(t, 2*time.Minute, "a Deployment controlled by the Foo", func() (bool, string) {
		out := deployment()
		return out == "1"+owned, out
	})

	mustKubectl(t, admin, "", "-n", "default", "patch", "foo", "example-foo", "--type=merge", "-p", `{"spec":{"replicas":3}}`)
	eventually(t, time.Minute, "the Deployment's replicas follow the Foo's", func() (bool, string) {
		out := deployment()
		return out == "3"+owned, out
	})

	oldUID := mustKubectl(t, admin, "", "-n", "default", "get", "deployment", "example-foo-nginx", "-o", "jsonpath={.metadata.uid}")
	mustKubectl(t, admin, "", "-n", "default", "delete", "deployment", "example-foo-nginx")
	eventually(t, time.Minute, "a deleted Deployment comes back", func() (bool, string) {
		uid, _ := kubectl(t, admin, "", "-n", "default", "get", "deployment", "example-foo-nginx", "-o", "jsonpath={.metadata.uid}")
		out := deployment()
		return uid != "" && uid != oldUID && out == "3"+owned, uid + " " + out
	})

	// The cluster may run no pods: the status says what the Deployment
	// reports, 0 when it reports nothing.
	eventually(t, time.Minute, "status.availableReplicas is the Deployment's", func() (bool, string) {
		available, _ := kubectl(t, admin, "", "-n", "default", "get", "deployment", "example-foo-nginx", "-o", "jsonpath={.status.availableReplicas}")
		if available == "" {
			available = "0"
		}
		status, _ := kubectl(t, admin, "", "-n", "default", "get", "foo", "example-foo", "-o", "jsonpath={.status.availableReplicas}")
		return status == available, "Foo status " + status + ", Deployment " + available
	})
	eventually(t, time.Minute, "kubectl describe shows a Synced Event on the Foo", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "describe", "foo", "example-foo")
		events := out[strings.Index(out, "Events:")+1:]
		return strings.Contains(events, "Normal") && strings.Contains(events, "Synced") &&
			strings.Contains(events, "sample-controller") && strings.Contains(events, "Foo synced successfully"), out
	})

	// A Deployment the Foo does not own is refused, and left as it is.
	mustKubectl(t, admin, "", "-n", "default", "create", "deployment", "sample-taken", "--image=nginx", "--replicas=2")
	mustKubectl(t, admin, `apiVersion: samplecontroller.k8s.io/v1alpha1
kind: Foo
metadata: {name: taker, namespace: default}
spec: {deploymentName: sample-taken, replicas: 5}
`, "apply", "-f", "-")
	eventually(t, time.Minute, "an ErrResourceExists warning on the Foo", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "events",
			"--field-selector", "involvedObject.kind=Foo,involvedObject.name=taker,reason=ErrResourceExists",
			"-o", `jsonpath={.items[*].type} {.items[*].message}`)
		return out == `Warning Resource "sample-taken" already exists and is not managed by Foo`, out
	})
	if out := mustKubectl(t, admin, "", "-n", "default", "get", "deployment", "sample-taken",
		"-o", "jsonpath={.spec.replicas} {.metadata.ownerReferences}"); out != "2 " {
		t.Errorf("a Deployment the Foo does not own was changed: %s", out)
	}
}
