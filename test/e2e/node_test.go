//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentImage is the test image hack/node-up.sh builds and imports: an HTTP
// server on :8080 answering /healthz and, on /, "hello from <hostname>".
const agentImage = "localhost/wasm-apiserver/agent:1"

// requireNode skips the test unless the cluster has a Ready node (started
// by `make node-up`), and fails it when NODE=1 demands one.
func requireNode(t *testing.T, c *cluster) {
	t.Helper()
	out, err := kubectl(t, c.Kubeconfig, "", "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	if err == nil && strings.Contains(out, "=True") {
		return
	}
	if os.Getenv("NODE") == "1" {
		t.Fatalf("NODE=1 but the cluster has no Ready node (start one with `make node-up`): %v\n%s", err, out)
	}
	if reason := os.Getenv("NODE_SKIP_REASON"); reason != "" {
		t.Skip("no local node: " + reason)
	}
	t.Skip("no Ready node in the cluster; `make node-up` starts one (or set NODE=1 to require it)")
}

// requireControllerManager skips the test unless kube-controller-manager
// runs for the cluster (CLUSTER_CONTROLLERS=1 hack/cluster-up.sh, or
// make node-up), and fails it when NODE=1 or CLUSTER_CONTROLLERS=1
// demands one.
func requireControllerManager(t *testing.T, c *cluster) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "kube-controller-manager.pid"))
	if err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil {
			return
		}
	}
	if os.Getenv("NODE") == "1" || os.Getenv("CLUSTER_CONTROLLERS") == "1" {
		t.Fatalf("kube-controller-manager is not running for %s", c.Dir)
	}
	t.Skip("kube-controller-manager is not running; CLUSTER_CONTROLLERS=1 hack/cluster-up.sh starts it")
}

// nodeNamespace creates a namespace named prefix-<n> for one test and
// deletes it at the end, without waiting for the namespace controller to
// empty it: TestNamespaceDeletion is where deletion is tested.
func nodeNamespace(t *testing.T, c *cluster, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000)
	mustKubectl(t, c.Kubeconfig, "", "create", "namespace", name)
	t.Cleanup(func() { kubectlAfter(t, c.Kubeconfig, "delete", "namespace", name, "--wait=false") })
	return name
}

// runAgent runs the agent image as pod "agent" in ns, Ready once the
// kubelet's probe of probePath answers, and returns the pod's IP.
func runAgent(t *testing.T, c *cluster, ns, probePath string) string {
	t.Helper()
	// Pods need the namespace's default ServiceAccount, which the
	// controller manager creates.
	eventually(t, 30*time.Second, "default ServiceAccount in "+ns, func() (bool, string) {
		out, err := kubectl(t, c.Kubeconfig, "", "-n", ns, "get", "serviceaccount", "default")
		return err == nil, out
	})
	mustKubectl(t, c.Kubeconfig, `apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: `+ns+`}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: agent
    image: `+agentImage+`
    imagePullPolicy: Never
    ports: [{containerPort: 8080}]
    readinessProbe:
      httpGet: {path: `+probePath+`, port: 8080}
      periodSeconds: 1
`, "apply", "-f", "-")
	if out, err := kubectl(t, c.Kubeconfig, "", "-n", ns, "wait", "pod/agent", "--for=condition=Ready", "--timeout=120s"); err != nil {
		desc, _ := kubectl(t, c.Kubeconfig, "", "-n", ns, "describe", "pod", "agent")
		t.Fatalf("pod not Ready: %v\n%s\n%s", err, out, desc)
	}
	ip := strings.TrimSpace(mustKubectl(t, c.Kubeconfig, "", "-n", ns, "get", "pod", "agent", "-o", "jsonpath={.status.podIP}"))
	if ip == "" {
		t.Fatal("Ready pod has no IP")
	}
	return ip
}

func TestNode_PodBecomesReadyAndServesOnItsIP(t *testing.T) {
	c := clusterFromEnv(t)
	requireNode(t, c)
	// Scheduled by kube-scheduler, run by the kubelet in containerd with the
	// locally built pause image, Ready once the kubelet's probe reaches it
	// over the bridge.
	ip := runAgent(t, c, nodeNamespace(t, c, "node-pod"), "/healthz")
	body := httpGet(t, fmt.Sprintf("http://%s:8080/", ip))
	if want := "hello from agent\n"; body != want {
		t.Errorf("GET / on the pod's IP = %q, want %q", body, want)
	}
}

// TestNode_PodReachesAPIServerThroughKubernetesService: a pod finds
// kube-apiserver as in any cluster, at the "kubernetes" Service's address
// (kube-proxy routes it to the bridge's address, where kube-apiserver
// listens while the node runs) with a certificate valid for that address.
func TestNode_PodReachesAPIServerThroughKubernetesService(t *testing.T) {
	c := clusterFromEnv(t)
	requireNode(t, c)
	// Ready only once its own probe got through to kube-apiserver.
	ip := runAgent(t, c, nodeNamespace(t, c, "node-svc"), "/apiserver/version")
	var fromPod, fromHost struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+ip+":8080/apiserver/version")), &fromPod); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(mustKubectl(t, c.Kubeconfig, "", "get", "--raw", "/version")), &fromHost); err != nil {
		t.Fatal(err)
	}
	if fromPod.GitVersion == "" || fromPod != fromHost {
		t.Errorf("version the pod got through the kubernetes Service = %+v, want %+v", fromPod, fromHost)
	}
}

func TestControllerManager_CollectsOwnedConfigMap(t *testing.T) {
	c := clusterFromEnv(t)
	requireControllerManager(t, c)
	ns := nodeNamespace(t, c, "node-gc")

	mustKubectl(t, c.Kubeconfig, "", "-n", ns, "create", "configmap", "owner")
	uid := strings.TrimSpace(mustKubectl(t, c.Kubeconfig, "", "-n", ns, "get", "configmap", "owner", "-o", "jsonpath={.metadata.uid}"))
	mustKubectl(t, c.Kubeconfig, `apiVersion: v1
kind: ConfigMap
metadata:
  name: child
  namespace: `+ns+`
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: owner, uid: `+uid+`}
data: {k: v}
`, "apply", "-f", "-")

	// Background propagation: the owner goes at once, its child when the
	// garbage collector sees the owner gone.
	mustKubectl(t, c.Kubeconfig, "", "-n", ns, "delete", "configmap", "owner", "--cascade=background")
	eventually(t, 60*time.Second, "child ConfigMap garbage-collected", func() (bool, string) {
		out, err := kubectl(t, c.Kubeconfig, "", "-n", ns, "get", "configmap", "child", "--ignore-not-found", "-o", "name")
		return err == nil && strings.TrimSpace(out) == "", out
	})
}

// TestControllerManager_CollectsWidgetChildren: the children a Wasm
// controller creates carry owner references good enough for the real
// garbage collector, which deletes them with their Widget.
func TestControllerManager_CollectsWidgetChildren(t *testing.T) {
	c := clusterFromEnv(t)
	requireControllerManager(t, c)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, _ := runControllers(t, c, root, t.TempDir())
	mustKubectl(t, admin, "", "apply", "-f", filepath.Join(root, "examples", "widget-controller", "crd.yaml"))
	eventually(t, time.Minute, "the Widget CRD is established", func() (bool, string) {
		out, _ := kubectl(t, admin, "", "get", "crd", "widgets.demo.wasm.io", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return out == "True", out
	})
	deployExample(t, c, root, wasmctl, "widget-controller")

	mustKubectl(t, admin, `apiVersion: demo.wasm.io/v1
kind: Widget
metadata: {name: collected, namespace: default}
spec: {replicas: 2, message: soon gone}
`, "apply", "-f", "-")
	children := func() string {
		out, _ := kubectl(t, admin, "", "-n", "default", "get", "configmaps", "-l", "demo.wasm.io/widget=collected",
			"-o", `jsonpath={range .items[*]}{.metadata.name} {end}`)
		return strings.TrimSpace(out)
	}
	eventually(t, time.Minute, "two children", func() (bool, string) {
		out := children()
		return out == "collected-0 collected-1", out
	})

	// Foreground: the Widget stays until the collector has deleted its
	// children, so its disappearance proves the collector ran.
	mustKubectl(t, admin, "", "-n", "default", "delete", "widget", "collected", "--cascade=foreground", "--wait=false")
	eventually(t, time.Minute, "children and Widget garbage-collected", func() (bool, string) {
		w, _ := kubectl(t, admin, "", "-n", "default", "get", "widget", "collected", "--ignore-not-found", "-o", "name")
		out := children()
		return out == "" && strings.TrimSpace(w) == "", "children: " + out + "; widget: " + w
	})
}

// httpGet fetches url from the host with a bounded time.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b)
}
