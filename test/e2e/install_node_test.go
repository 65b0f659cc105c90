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

const (
	serverNamespace = "wasm-system"
	serverSelector  = "app.kubernetes.io/name=wasm-apiserver"
	serverPod       = "wasm-apiserver-0"
	// stateClaim is the claim the StatefulSet's volumeClaimTemplate makes
	// for its one pod.
	stateClaim = "state-wasm-apiserver-0"
	// baseImage is the image artifacts/kustomization.yaml names, without
	// its tag.
	baseImage = "ghcr.io/wasm-apiserver/wasm-apiserver"
)

// TestNode_InstallFromArtifacts takes the administrator's path of the
// README on the local node: the image `make image` built, imported into
// the node's runtime; certificates from hack/gen-serving-cert.sh; an overlay
// of artifacts/ that names only the image; a PersistentVolume made by hand,
// as in a cluster without a provisioner; kubectl apply -k. The server then
// runs as a pod and reconciles, and keeps its WasmControllers across a
// rolling restart and a deleted pod.
func TestNode_InstallFromArtifacts(t *testing.T) {
	c := clusterFromEnv(t)
	requireNode(t, c)
	image := requireServerImage(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	work := t.TempDir()

	freshInstall(t, admin)
	overlay := writeOverlay(t, root, work, "", image)
	provideStateVolume(t, c)
	mustKubectl(t, admin, "", "apply", "-k", overlay)
	t.Cleanup(func() { uninstall(t, admin) })
	lifetimes := watchPodLifetimes(t, admin, serverNamespace, serverSelector)
	waitServerPod(t, admin, "")

	t.Run("pod runs as the manifests say", func(t *testing.T) { checkPodConfinement(t, admin, image) })

	waitServerAvailable(t, admin)
	if out := mustKubectl(t, admin, "", "get", "wasmcontrollers", "-A"); !strings.Contains(out, "No resources found") && !strings.Contains(out, "NAME") {
		t.Errorf("kubectl get wasmcontrollers -A:\n%s", out)
	}
	deployExample(t, c, root, admin, "configmap-replicator")
	r := newReplication(t, admin)
	r.expect(t, "blue")
	wcUID := strings.TrimSpace(mustKubectl(t, admin, "", "-n", "default", "get", "wc", "configmap-replicator", "-o", "jsonpath={.metadata.uid}"))

	// Each way the pod is replaced keeps the WasmController (the same
	// object, from the same etcd) and its guest reconciles again.
	replacements := []struct {
		name    string
		replace func(t *testing.T)
		color   string
	}{
		{name: "rollout restart", color: "green", replace: func(t *testing.T) {
			mustKubectl(t, admin, "", "-n", serverNamespace, "rollout", "restart", "statefulset/wasm-apiserver")
			mustKubectl(t, admin, "", "-n", serverNamespace, "rollout", "status", "statefulset/wasm-apiserver", "--timeout=4m")
		}},
		{name: "pod deleted", color: "red", replace: func(t *testing.T) {
			mustKubectl(t, admin, "", "-n", serverNamespace, "delete", "pod", serverPod, "--timeout=2m")
		}},
	}
	for _, rep := range replacements {
		t.Run(rep.name, func(t *testing.T) {
			before := podUID(t, admin)
			rep.replace(t)
			waitServerPod(t, admin, before)
			waitServerAvailable(t, admin)
			got := strings.TrimSpace(mustKubectl(t, admin, "", "-n", "default", "get", "wc", "configmap-replicator", "-o", "jsonpath={.metadata.uid}"))
			if got != wcUID {
				t.Fatalf("WasmController uid after the new pod = %q, want %q (the same object)", got, wcUID)
			}
			waitPhase(t, admin, "configmap-replicator", loaded, "1")
			r.change(t, rep.color)
			r.expect(t, rep.color)
		})
	}

	if most, pods := lifetimes.mostAtOnce(); most > 1 {
		t.Errorf("%d server pods existed at once (%s): two could open the same etcd", most, strings.Join(pods, ", "))
	}
}

// requireServerImage is the server's image built for the node
// (hack/test-e2e.sh builds and imports it and names it in
// WASM_APISERVER_IMAGE).
func requireServerImage(t *testing.T) string {
	t.Helper()
	image := os.Getenv("WASM_APISERVER_IMAGE")
	if image != "" {
		return image
	}
	const why = "WASM_APISERVER_IMAGE names no server image on the node (hack/test-e2e.sh builds and imports one)"
	if os.Getenv("NODE") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// freshInstall removes what an earlier test left of the StatefulSet and its
// claim (their pod pends without a volume and would hold up the rollout), of
// the replicas of artifacts/ha, and the EndpointSlice of a server run on the
// host.
func freshInstall(t *testing.T, admin string) {
	t.Helper()
	for _, obj := range []string{"statefulset/wasm-apiserver", "pvc/" + stateClaim, "deployment/wasm-apiserver",
		"pdb/wasm-apiserver", "endpointslice/wasm-apiserver-host"} {
		mustKubectl(t, admin, "", "-n", serverNamespace, "delete", obj, "--ignore-not-found", "--timeout=2m")
	}
}

// writeOverlay copies artifacts/ into work, writes the certificates of its
// variant (artifacts/ itself when "", or a directory of it such as "ha")
// with hack/gen-serving-cert.sh, and returns an overlay of the variant that
// names the image.
func writeOverlay(t *testing.T, root, work, variant, image string) string {
	t.Helper()
	artifacts := filepath.Join(work, "artifacts")
	if err := os.CopyFS(artifacts, os.DirFS(filepath.Join(root, "artifacts"))); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(artifacts, variant)
	if out, err := run(t, "", filepath.Join(root, "hack", "gen-serving-cert.sh"), filepath.Join(base, "certs")); err != nil {
		t.Fatalf("gen-serving-cert: %v\n%s", err, out)
	}
	slash := strings.LastIndex(image, "/")
	name, tag, ok := strings.Cut(image[slash+1:], ":")
	if !ok {
		t.Fatalf("image %q has no tag", image)
	}
	overlay := filepath.Join(work, "overlay")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	// An overlay's images entry matches the name the base has made of the
	// image, not the placeholder in statefulset.yaml.
	kustomization := fmt.Sprintf("resources: [%s]\nimages:\n- {name: %s, newName: %s, newTag: %s}\n",
		filepath.Join("..", "artifacts", variant), baseImage, image[:slash+1]+name, tag)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	return overlay
}

// provideStateVolume makes a local PersistentVolume on the node, reserved
// for the server's claim, as an administrator of a cluster without a
// default StorageClass would. Its directory is under the node's.
func provideStateVolume(t *testing.T, c *cluster) {
	t.Helper()
	node := strings.TrimSpace(mustKubectl(t, c.Kubeconfig, "", "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	pv := fmt.Sprintf("wasm-apiserver-state-%d", time.Now().UnixNano()%1_000_000)
	dir := filepath.Join(c.Dir, "node", "volumes", pv)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, c.Kubeconfig, `apiVersion: v1
kind: PersistentVolume
metadata: {name: `+pv+`}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: `+serverNamespace+`, name: `+stateClaim+`}
  local: {path: `+dir+`}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [`+node+`]}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		kubectlAfter(t, c.Kubeconfig, "delete", "pv", pv, "--timeout=1m")
		_ = os.RemoveAll(dir)
	})
}

// uninstall deletes the server's StatefulSet, its pod and its claim, so that
// later tests' servers on the host are the only ones behind the Service.
func uninstall(t *testing.T, admin string) {
	if t.Failed() {
		out, _ := runAfter(time.Minute, "kubectl", "--kubeconfig", admin, "-n", serverNamespace, "describe", "pod", serverPod)
		logs, _ := runAfter(time.Minute, "kubectl", "--kubeconfig", admin, "-n", serverNamespace, "logs", serverPod, "--tail=60")
		t.Logf("server pod:\n%s\nlog:\n%s", out, logs)
	}
	kubectlAfter(t, admin, "-n", serverNamespace, "delete", "statefulset", "wasm-apiserver", "--wait=true", "--timeout=2m")
	kubectlAfter(t, admin, "-n", serverNamespace, "delete", "pod", serverPod, "--ignore-not-found", "--timeout=2m")
	kubectlAfter(t, admin, "-n", serverNamespace, "delete", "pvc", stateClaim, "--ignore-not-found", "--timeout=1m")
}

// podUID is the uid of the server's pod now.
func podUID(t *testing.T, admin string) string {
	t.Helper()
	return strings.TrimSpace(mustKubectl(t, admin, "", "-n", serverNamespace, "get", "pod", serverPod, "-o", "jsonpath={.metadata.uid}"))
}

// waitServerPod waits until the server's pod is Ready through its own
// probes, and is not the pod with uid previous.
func waitServerPod(t *testing.T, admin, previous string) {
	t.Helper()
	eventually(t, 4*time.Minute, "the server's pod Ready", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "-n", serverNamespace, "get", "pod", serverPod, "-o",
			`jsonpath={.metadata.uid} {.status.conditions[?(@.type=="Ready")].status} {.status.phase}`)
		uid, rest, _ := strings.Cut(out, " ")
		return uid != previous && strings.HasPrefix(rest, "True "), out
	})
}

// waitServerAvailable waits until the aggregator reaches the pod through
// the Service.
func waitServerAvailable(t *testing.T, admin string) {
	t.Helper()
	eventually(t, 2*time.Minute, "APIService Available", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "get", apiService, "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}`)
		return strings.HasPrefix(out, "True "), out
	})
}
