//go:build e2e

// Package e2e installs wasm-apiserver into a real kube-apiserver (started by
// hack/cluster-up.sh) with the manifests in artifacts/, and drives it through
// the aggregator with the real kubectl.
package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const apiService = "apiservice/v1alpha1.controllers.wasm.io"

func TestInstallThroughAggregator(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	work := t.TempDir()
	admin := c.Kubeconfig

	srv := serveBehindAggregator(t, c, root, work)

	waitAvailable(t, admin, "True", srv)
	// The aggregator polls the server before it is up; only what it logs
	// once the server is available counts.
	apiserverLog := filepath.Join(c.Dir, "kube-apiserver.log")
	logOffset := len(mustRead(t, apiserverLog))

	t.Run("discovery", func(t *testing.T) {
		out := mustKubectl(t, admin, "", "api-resources", "--api-group=controllers.wasm.io")
		if !strings.Contains(out, "wasmcontrollers") || !strings.Contains(out, "wc") {
			t.Errorf("api-resources:\n%s", out)
		}
		var group struct {
			Resources []struct{ Name string } `json:"resources"`
		}
		if err := json.Unmarshal([]byte(mustKubectl(t, admin, "", "get", "--raw", "/apis/controllers.wasm.io/v1alpha1")), &group); err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		for _, r := range group.Resources {
			found[r.Name] = true
		}
		if !found["wasmcontrollers"] || !found["wasmcontrollers/status"] {
			t.Errorf("discovery resources = %v", found)
		}
		eventually(t, time.Minute, "OpenAPI v3 of the group served through the aggregator", func() (bool, string) {
			v3, err := kubectl(t, admin, "", "get", "--raw", "/openapi/v3/apis/controllers.wasm.io/v1alpha1")
			return err == nil && strings.Contains(v3, "io.wasm.controllers.v1alpha1.WasmController"), v3
		})
		eventually(t, time.Minute, "OpenAPI v2 aggregated by kube-apiserver", func() (bool, string) {
			v2, err := kubectl(t, admin, "", "get", "--raw", "/openapi/v2")
			return err == nil && strings.Contains(v2, "io.wasm.controllers.v1alpha1.WasmController"), "no WasmController definition"
		})
	})

	t.Run("kubectl", func(t *testing.T) {
		example, err := os.ReadFile(filepath.Join(root, "artifacts", "examples", "configmap-replicator.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		watch := exec.Command("kubectl", "--kubeconfig", admin, "get", "wc", "-n", "default", "-w", "-o", "name", "--request-timeout=15s")
		var watched strings.Builder
		watch.Stdout, watch.Stderr = &watched, &watched
		if err := watch.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)

		mustKubectl(t, admin, string(example), "apply", "-f", "-")
		out := mustKubectl(t, admin, "", "get", "wc", "-n", "default")
		for _, want := range []string{"NAME", "PHASE", "WATCHES", "WAKES", "LAST WAKE", "configmap-replicator", "ConfigMap,Namespace"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl get: missing %q:\n%s", want, out)
			}
		}
		if out := mustKubectl(t, admin, "", "get", "wc", "-n", "default", "-o", "wide"); !strings.Contains(out, "MODULE") {
			t.Errorf("kubectl get -o wide:\n%s", out)
		}
		if out := mustKubectl(t, admin, "", "describe", "wc", "-n", "default", "configmap-replicator"); !strings.Contains(out, "Service Account Name:  configmap-replicator") {
			t.Errorf("kubectl describe:\n%s", out)
		}
		if out := mustKubectl(t, admin, "", "explain", "wasmcontrollers.spec.suspend.policy"); !strings.Contains(out, "Predictive") {
			t.Errorf("kubectl explain:\n%s", out)
		}

		changed := strings.Replace(string(example), "resyncPeriod: 10m", "resyncPeriod: 5m", 1)
		if out, err := kubectl(t, admin, changed, "diff", "-f", "-"); err == nil || !strings.Contains(out, "resyncPeriod: 5m") {
			t.Errorf("kubectl diff: err=%v\n%s", err, out)
		}
		mustKubectl(t, admin, changed, "apply", "--server-side", "--force-conflicts", "-f", "-")
		if out := mustKubectl(t, admin, "", "get", "wc", "-n", "default", "configmap-replicator", "-o", "jsonpath={.spec.resyncPeriod} {.metadata.generation}"); out != "5m0s 2" {
			t.Errorf("after server-side apply: resyncPeriod and generation = %q, want \"5m0s 2\"", out)
		}

		out, err = kubectl(t, admin, string(mustRead(t, filepath.Join(root, "artifacts", "examples", "bad-wake-rule.yaml"))), "apply", "-f", "-")
		if err == nil || !strings.Contains(out, "spec.watches[0].wakeWhen") {
			t.Errorf("invalid object: err=%v, want refusal naming spec.watches[0].wakeWhen:\n%s", err, out)
		}

		_ = watch.Wait()
		if !strings.Contains(watched.String(), "wasmcontroller.controllers.wasm.io/configmap-replicator") {
			t.Errorf("kubectl get -w did not show the object:\n%s", watched.String())
		}
	})

	t.Run("rbac", func(t *testing.T) {
		out, err := run(t, "", filepath.Join(root, "hack", "cluster-user.sh"), "alice")
		if err != nil {
			t.Fatalf("cluster-user: %v\n%s", err, out)
		}
		alice := strings.TrimSpace(lastLine(out))
		out, err = kubectl(t, alice, "", "get", "wc", "-n", "default")
		if err == nil || !strings.Contains(out, "forbidden") {
			t.Fatalf("alice without RBAC: err=%v, want forbidden:\n%s", err, out)
		}
		mustKubectl(t, admin, "", "create", "rolebinding", "alice-wasm-edit", "-n", "default", "--clusterrole=wasm-apiserver:edit", "--user=alice")
		eventually(t, 30*time.Second, "alice allowed after the RoleBinding", func() (bool, string) {
			out, err := kubectl(t, alice, "", "get", "wc", "-n", "default")
			return err == nil && strings.Contains(out, "configmap-replicator"), out
		})
		if out, err := kubectl(t, alice, "", "get", "wc", "-n", "kube-system"); err == nil || !strings.Contains(out, "forbidden") {
			t.Errorf("alice in another namespace: err=%v, want forbidden:\n%s", err, out)
		}
	})

	t.Run("openapi-errors", func(t *testing.T) {
		log := string(mustRead(t, apiserverLog)[logOffset:])
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "controllers.wasm.io") && strings.Contains(strings.ToLower(line), "openapi") &&
				(strings.HasPrefix(line, "E") || strings.Contains(line, "error")) {
				t.Errorf("kube-apiserver logged an OpenAPI error for the group: %s", line)
			}
		}
	})

	t.Run("restart", func(t *testing.T) {
		srv.stop(t)
		waitAvailable(t, admin, "False", srv)
		if out, err := kubectl(t, admin, "", "get", "namespaces"); err != nil || !strings.Contains(out, "default") {
			t.Errorf("kubectl for other resources while wasm-apiserver is down: %v\n%s", err, out)
		}
		srv.start(t)
		waitAvailable(t, admin, "True", srv)
		if out := mustKubectl(t, admin, "", "get", "wc", "-n", "default", "configmap-replicator", "-o", "jsonpath={.spec.resyncPeriod}"); out != "5m0s" {
			t.Errorf("after restart: resyncPeriod = %q, want 5m0s", out)
		}
		mustKubectl(t, admin, "", "delete", "wc", "-n", "default", "configmap-replicator")
		if out, err := kubectl(t, admin, "", "get", "wc", "-n", "default", "configmap-replicator"); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("after delete: err=%v\n%s", err, out)
		}
	})
}

// waitAvailable waits until the APIService's Available condition has status.
func waitAvailable(t *testing.T, kubeconfig, status string, srv *serverProcess) {
	t.Helper()
	eventually(t, 2*time.Minute, "APIService Available="+status, func() (bool, string) {
		out, _ := kubectl(t, kubeconfig, "", "get", apiService, "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}`)
		return strings.HasPrefix(out, status+" "), out + "\nwasm-apiserver log:\n" + srv.logTail()
	})
}

// endpointSlice points the wasm-apiserver Service at a server on the host.
// The aggregator refuses loopback IP endpoints, so the address is an FQDN.
func endpointSlice(port int) string {
	return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: wasm-apiserver-host
  namespace: wasm-system
  labels:
    kubernetes.io/service-name: wasm-apiserver
addressType: FQDN
endpoints:
- addresses: ["127.0.0.1"]
  conditions: {ready: true}
ports:
- name: https
  port: ` + itoa(port) + `
  protocol: TCP
`
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
