//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// TestModuleImage publishes an example's module to an OCI registry with the
// real `wasm-apiserver module push`, runs it from spec.module.image, and
// checks it reconciles real objects with its digest pinned in status; a
// missing image is reported as a condition and an Event, and nothing runs.
func TestModuleImage(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	// The registries are on 127.0.0.1, which the server reaches over plain
	// HTTP, and only because the administrator named them.
	reg := modulestest.NewRegistry(t)
	priv := modulestest.NewPrivateRegistry(t, "robot", "s3cret")
	wasmctl, srv := runControllersWith(t, c, root, t.TempDir(), "--insecure-registry="+reg.Host+","+priv.Host)

	const name = "configmap-replicator"
	if out, err := run(t, "", filepath.Join(root, "test", "guests", "build.sh"), name); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	wasm := filepath.Join(root, "_output", "guests", name+".wasm")
	ref := reg.Ref("controllers/" + name + ":v1")
	out, err := run(t, "", srv.bin, "module", "push", wasm, ref)
	if err != nil {
		t.Fatalf("wasm-apiserver module push: %v\n%s", err, out)
	}
	pushed := strings.TrimSpace(out)
	if !strings.HasPrefix(pushed, reg.Ref("controllers/"+name)+"@sha256:") {
		t.Fatalf("module push printed %q, want the reference by digest", pushed)
	}
	digest, err := run(t, "", srv.bin, "module", "digest", wasm)
	if err != nil {
		t.Fatalf("wasm-apiserver module digest: %v\n%s", err, digest)
	}

	// The example's WasmController, its module named by image instead.
	manifest := string(mustRead(t, filepath.Join(root, "examples", name, "wasmcontroller.yaml")))
	configMapRef := "    configMapRef:\n      name: configmap-replicator-module\n      key: module.wasm.gz\n"
	if !strings.Contains(manifest, configMapRef) {
		t.Fatalf("the example no longer names its module as this test expects:\n%s", manifest)
	}
	manifest = strings.Replace(manifest, configMapRef, "    image: "+ref+"\n", 1)
	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(root, "examples", name, "rbac.yaml"))
	mustKubectl(t, wasmctl, manifest, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name, "--ignore-not-found") })
	eventually(t, 2*time.Minute, name+" Active from the image", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name,
			"-o", `jsonpath={.status.phase} {.status.moduleDigest} {.status.resolvedImage} {.status.lastError}`)
		phase, rest, _ := strings.Cut(out, " ")
		return isLoaded(phase) && rest == "sha256:"+strings.TrimSpace(digest)+" "+ref+"@"+strings.SplitN(pushed, "@", 2)[1]+" ", out
	})

	ns, source := "replica-oci", "oci-settings"
	mustKubectl(t, admin, "", "create", "namespace", ns)
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "delete", "namespace", ns, "--wait=false")
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "configmap", source, "--ignore-not-found")
	})
	mustKubectl(t, admin, "", "label", "namespace", ns, "wasm.io/replicate-configmaps=true")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", source, "--from-literal=color=teal")
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", source, "wasm.io/replicate=true")
	eventually(t, time.Minute, "the module pulled from the registry copies the ConfigMap", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", ns, "get", "configmap", source, "-o", `jsonpath={.data.color}`)
		return out == "teal", out
	})

	// The module is in the server's module store, once.
	stored, err := filepath.Glob(filepath.Join(srv.stateDir, "modules", "sha256", strings.TrimSpace(digest)))
	if err != nil || len(stored) != 1 {
		t.Errorf("module store holds %v (%v), want the module", stored, err)
	}

	t.Run("private registry", func(t *testing.T) { testPrivateRegistry(t, c, srv, priv, wasmctl, manifest, ref, wasm, digest) })
	t.Run("local registry not named", func(t *testing.T) {
		other := modulestest.NewRegistry(t)
		local := strings.NewReplacer("name: "+name+"\n", "name: local-registry\n", ref, other.Ref("controllers/"+name+":v1")).Replace(manifest)
		mustKubectl(t, wasmctl, local, "apply", "-f", "-")
		t.Cleanup(func() {
			_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "local-registry", "--ignore-not-found")
		})
		eventually(t, time.Minute, "a registry on the server's own node is refused", func() (bool, string) {
			out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "local-registry",
				"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].reason}`)
			return out == "Failed InvalidReference", out
		})
		if n := other.ManifestHeads.Load() + other.BlobGets.Load(); n != 0 {
			t.Errorf("%d requests reached the registry", n)
		}
	})
	t.Run("url", func(t *testing.T) { testModuleURL(t, c, srv, wasmctl, manifest, ref, wasm, digest) })
	t.Run("missing image", func(t *testing.T) {
		missing := strings.NewReplacer("name: "+name+"\n", "name: missing-image\n", ref, reg.Ref("controllers/nothing:v1")).Replace(manifest)
		mustKubectl(t, wasmctl, missing, "apply", "-f", "-")
		t.Cleanup(func() {
			_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "missing-image", "--ignore-not-found")
		})
		eventually(t, time.Minute, "ModuleLoaded False with reason ImageNotFound", func() (bool, string) {
			out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "missing-image",
				"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].status} {.status.conditions[?(@.type=="ModuleLoaded")].reason} {.status.moduleDigest}`)
			return out == "Failed False ImageNotFound ", out
		})
		eventually(t, 30*time.Second, "a Warning Event with reason ImageNotFound", func() (bool, string) {
			out, _ := kubectl(t, admin, "", "-n", "default", "get", "events", "--field-selector",
				"involvedObject.name=missing-image,reason=ImageNotFound", "-o", "jsonpath={.items[*].type}")
			return strings.HasPrefix(out, "Warning"), out
		})
	})
}

// testPrivateRegistry pushes the same module to a registry that wants a
// password, with the credentials of a docker config, and runs it with an
// image pull Secret read as the controller's ServiceAccount. Refused first
// without the Secret, then while the ServiceAccount may not read it, it is
// downloaded once and kept once: the store shares bytes, not access.
func testPrivateRegistry(t *testing.T, c *cluster, srv *serverProcess, priv *modulestest.Registry, wasmctl, manifest, publicRef, wasm, digest string) {
	admin := c.Kubeconfig
	dockerConfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"),
		[]byte(`{"auths": {"`+priv.Host+`": {"auth": "`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := priv.Ref("controllers/private:v1")
	push := exec.CommandContext(t.Context(), srv.bin, "module", "push", wasm, ref)
	push.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("module push with the docker config's credentials: %v\n%s", err, out)
	}
	downloads := priv.BlobGets.Load()

	const name = "private-module"
	private := strings.NewReplacer("name: configmap-replicator\n", "name: "+name+"\n", publicRef, ref).Replace(manifest)
	mustKubectl(t, wasmctl, private, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name, "--ignore-not-found") })
	eventually(t, time.Minute, "ModuleLoaded False with reason Unauthorized", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name,
			"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].reason}`)
		return out == "Failed Unauthorized", out
	})

	mustKubectl(t, admin, "", "-n", "default", "create", "secret", "docker-registry", "private-registry",
		"--docker-server="+priv.Host, "--docker-username=robot", "--docker-password=s3cret")
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "secret", "private-registry", "--ignore-not-found")
	})
	mustKubectl(t, wasmctl, "", "-n", "default", "patch", "wc", name, "--type=merge",
		"-p", `{"spec":{"module":{"imagePullSecrets":[{"name":"private-registry"}]}}}`)
	// The pull Secret is read as the controller's ServiceAccount, which may
	// not read it until it is granted.
	eventually(t, time.Minute, "ModuleLoaded False with reason Forbidden", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name,
			"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].reason}`)
		return out == "Failed Forbidden", out
	})
	mustKubectl(t, admin, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-private-registry, namespace: default}
rules:
- {apiGroups: [""], resources: [secrets], resourceNames: [private-registry], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-private-registry, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-private-registry}
subjects:
- {kind: ServiceAccount, name: configmap-replicator, namespace: default}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, admin, "", "-n", "default", "delete", "role,rolebinding", "read-private-registry", "--ignore-not-found")
	})
	eventually(t, 2*time.Minute, name+" Active with the pull Secret", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", name,
			"-o", `jsonpath={.status.phase} {.status.moduleDigest} {.status.resolvedImage}`)
		return strings.HasPrefix(out, "Active sha256:"+strings.TrimSpace(digest)+" "+ref+"@sha256:"), out
	})
	// The store holds these bytes from the public image already, but reuses
	// them only for the repository they came from: from another one, only
	// a download with the requester's credentials shows it may have them.
	if got := priv.BlobGets.Load() - downloads; got != 1 {
		t.Errorf("the module was downloaded %d times from the private registry, want once", got)
	}
	if stored, _ := filepath.Glob(filepath.Join(srv.stateDir, "modules", "sha256", "*")); len(stored) != 1 {
		t.Errorf("module store holds %v, want one module for both images", stored)
	}
}

// testModuleURL runs the module from an HTTPS URL with its sha256, and
// refuses one whose bytes do not match: the server trusts the test server's
// certificate through SSL_CERT_FILE, as an administrator would add a CA to
// the system's trust store.
func testModuleURL(t *testing.T, c *cluster, srv *serverProcess, wasmctl, manifest, ref, wasm, digest string) {
	module := mustRead(t, wasm)
	files := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/replicator.wasm" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(module)
	}))
	defer files.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: files.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimSpace(digest)
	fromURL := func(name, sha256 string) string {
		return strings.NewReplacer("name: configmap-replicator\n", "name: "+name+"\n",
			"    image: "+ref+"\n", "    url: "+files.URL+"/replicator.wasm\n    sha256: \""+sha256+"\"\n").Replace(manifest)
	}
	// The test server is on loopback, which a tenant may not name unless
	// the administrator allows it.
	mustKubectl(t, wasmctl, fromURL("url-local", hex), "apply", "-f", "-")
	eventually(t, time.Minute, "a URL on the server's own node is refused", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "url-local",
			"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].reason}`)
		return out == "Failed InvalidReference", out
	})
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "url-local")

	srv.stop(t)
	srv.env = []string{"SSL_CERT_FILE=" + ca}
	srv.flags = []string{"--allow-local-module-sources"}
	srv.start(t)
	waitReady(t, wasmctl, srv)
	mustKubectl(t, wasmctl, fromURL("url-module", hex), "apply", "-f", "-")
	mustKubectl(t, wasmctl, fromURL("url-mismatch", strings.Repeat("0", 64)), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, wasmctl, "", "-n", "default", "delete", "wc", "url-module", "url-mismatch", "--ignore-not-found")
	})
	eventually(t, 2*time.Minute, "the module from the URL loads", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "url-module",
			"-o", `jsonpath={.status.phase} {.status.moduleDigest} {.status.lastError}`)
		phase, rest, _ := strings.Cut(out, " ")
		return isLoaded(phase) && rest == "sha256:"+hex+" ", out
	})
	eventually(t, time.Minute, "a module whose sha256 does not match is refused", func() (bool, string) {
		out, _ := kubectl(t, wasmctl, "", "-n", "default", "get", "wc", "url-mismatch",
			"-o", `jsonpath={.status.phase} {.status.conditions[?(@.type=="ModuleLoaded")].reason} {.status.wakes}`)
		// Every failure of a URL fetch looks the same to the tenant, so
		// that a WasmController cannot probe the network.
		return out == "Failed FetchFailed ", out
	})
	eventually(t, 30*time.Second, "a Warning Event with reason FetchFailed", func() (bool, string) {
		out, _ := kubectl(t, c.Kubeconfig, "", "-n", "default", "get", "events", "--field-selector",
			"involvedObject.name=url-mismatch,reason=FetchFailed", "-o", "jsonpath={.items[*].type}")
		return strings.HasPrefix(out, "Warning"), out
	})
}
