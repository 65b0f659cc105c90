// Package integration drives wasm-apiserver, running in the test process with
// its embedded etcd, through client-go and the real kubectl.
package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "artifacts", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const minimalWC = `apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata:
  name: %s
  namespace: default
spec:
  module:
    inline: AGFzbQEAAAA=
  watches:
  - apiVersion: v1
    kind: Secret
`

func TestServer_KubectlAndClientGo(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := t.Context()
	wcs := s.Client.ControllersV1alpha1().WasmControllers("default")

	// Create from the example an administrator would apply.
	if out := s.mustKubectl(t, readExample(t, "configmap-replicator.yaml"), "apply", "-f", "-"); !strings.Contains(out, "configmap-replicator created") {
		t.Fatalf("kubectl apply: %s", out)
	}

	// Get as a table, narrow and wide.
	out := s.mustKubectl(t, "", "get", "wasmcontrollers")
	for _, col := range []string{"NAME", "PHASE", "WATCHES", "WAKES", "LAST WAKE", "AGE", "configmap-replicator", "Pending", "ConfigMap,Namespace"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get: missing %q in\n%s", col, out)
		}
	}
	if strings.Contains(out, "MODULE") {
		t.Errorf("kubectl get: MODULE shown without -o wide:\n%s", out)
	}
	out = s.mustKubectl(t, "", "get", "wc", "-o", "wide")
	for _, col := range []string{"MODULE", "MEMORY", "configmap/configmap-replicator-module[module.wasm.gz]"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get -o wide: missing %q in\n%s", col, out)
		}
	}

	// Get as JSON: defaults applied, generation 1, status Pending.
	var got v1alpha1.WasmController
	if err := json.Unmarshal([]byte(s.mustKubectl(t, "", "get", "wc", "configmap-replicator", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 1 || got.Status.Phase != v1alpha1.PhasePending || got.Spec.Limits.MaxConcurrentReconciles != 1 ||
		got.Spec.Limits.Memory.String() != "32Mi" || got.Spec.ServiceAccountName != "configmap-replicator" {
		t.Errorf("unexpected object after create: generation=%d phase=%q limits=%+v sa=%q",
			got.Generation, got.Status.Phase, got.Spec.Limits, got.Spec.ServiceAccountName)
	}

	// Status through the subresource: status changes, spec does not.
	wc, err := wcs.Get(ctx, "configmap-replicator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wc.Status.Phase = v1alpha1.PhaseActive
	wc.Status.Wakes = 3
	wc.Spec.Paused = true
	if wc, err = wcs.UpdateStatus(ctx, wc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if wc.Status.Wakes != 3 || wc.Spec.Paused || wc.Generation != 1 {
		t.Errorf("UpdateStatus: wakes=%d paused=%v generation=%d, want 3, false, 1", wc.Status.Wakes, wc.Spec.Paused, wc.Generation)
	}
	// The main resource ignores status; a spec change bumps the generation.
	wc.Status.Wakes = 99
	wc.Spec.Paused = true
	if wc, err = wcs.Update(ctx, wc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if wc.Status.Wakes != 3 || !wc.Spec.Paused || wc.Generation != 2 {
		t.Errorf("Update: wakes=%d paused=%v generation=%d, want 3, true, 2", wc.Status.Wakes, wc.Spec.Paused, wc.Generation)
	}
	// kubectl patches status through the subresource too.
	s.mustKubectl(t, "", "patch", "wc", "configmap-replicator", "--subresource=status", "--type=merge", "-p", `{"status":{"wakes":5}}`)
	s.mustKubectl(t, "", "label", "wc", "configmap-replicator", "tier=edge")
	if wc, err = wcs.Get(ctx, "configmap-replicator", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if wc.Status.Wakes != 5 || wc.Generation != 2 || wc.Labels["tier"] != "edge" {
		t.Errorf("after status patch and label: wakes=%d generation=%d labels=%v", wc.Status.Wakes, wc.Generation, wc.Labels)
	}

	// Watch with client-go and with kubectl get -w.
	w, err := wcs.Watch(ctx, metav1.ListOptions{ResourceVersion: wc.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	kubectlWatch := s.startKubectl(t, "get", "wc", "-w", "-o", "name", "--request-timeout=10s")
	time.Sleep(2 * time.Second) // let kubectl establish its watch; it lists first, so an early create still shows
	s.mustKubectl(t, strings.ReplaceAll(minimalWC, "%s", "watched"), "create", "-f", "-")
	waitForEvent(t, w, watch.Added, "watched")
	w.Stop()
	if out := kubectlWatch.wait(t); !strings.Contains(out, "wasmcontroller.controllers.wasm.io/watched") {
		t.Errorf("kubectl get -w did not show the new object:\n%s", out)
	}

	// Server-side apply: fields are owned, a conflicting manager is refused.
	applied := strings.ReplaceAll(minimalWC, "%s", "applied") + "  resyncPeriod: 1m\n"
	s.mustKubectl(t, applied, "apply", "--server-side", "--field-manager=alice", "-f", "-")
	conflicting := strings.ReplaceAll(applied, "1m", "2m")
	if out, err := s.kubectl(t, conflicting, "apply", "--server-side", "--field-manager=bob", "-f", "-"); err == nil || !strings.Contains(out, "conflict") {
		t.Errorf("server-side apply by a second manager: err=%v, want a conflict:\n%s", err, out)
	}
	out = s.mustKubectl(t, "", "get", "wc", "applied", "-o", "jsonpath={.metadata.managedFields[*].manager}")
	if !strings.Contains(out, "alice") {
		t.Errorf("managedFields managers = %q, want alice", out)
	}
	// kubectl diff reports the pending change with exit code 1.
	if out, err := s.kubectl(t, conflicting, "diff", "--server-side", "--field-manager=alice", "-f", "-"); err == nil || !strings.Contains(out, "resyncPeriod: 2m") {
		t.Errorf("kubectl diff: err=%v\n%s", err, out)
	}

	// Invalid objects are refused with the field path.
	out, err = s.kubectl(t, readExample(t, "bad-wake-rule.yaml"), "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "spec.watches[0].wakeWhen") {
		t.Errorf("bad wake rule: err=%v, want refusal naming spec.watches[0].wakeWhen:\n%s", err, out)
	}

	// explain and describe work from the served OpenAPI.
	if out := s.mustKubectl(t, "", "explain", "wasmcontroller.spec.watches.wakeWhen"); !strings.Contains(out, "CEL expression") {
		t.Errorf("kubectl explain: %s", out)
	}
	if out := s.mustKubectl(t, "", "describe", "wc", "configmap-replicator"); !strings.Contains(out, "Wake When") && !strings.Contains(out, "wakeWhen") {
		t.Errorf("kubectl describe: %s", out)
	}

	// Delete.
	s.mustKubectl(t, "", "delete", "wc", "watched")
	if _, err := wcs.Get(ctx, "watched", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete: %v, want NotFound", err)
	}

	// Restart on the same state dir: every object is back, status included.
	s.stop(t)
	s = startServer(t, s.StateDir)
	list, err := s.Client.ControllersV1alpha1().WasmControllers("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]v1alpha1.WasmController{}
	for _, item := range list.Items {
		names[item.Name] = item
	}
	if len(names) != 2 || names["configmap-replicator"].Status.Wakes != 5 || names["applied"].Spec.ResyncPeriod == nil {
		t.Errorf("after restart: %d objects %v", len(names), names)
	}
	s.mustKubectl(t, "", "get", "wc", "configmap-replicator")
}

func waitForEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed before %s %s", typ, name)
			}
			if wc, isWC := ev.Object.(*v1alpha1.WasmController); isWC && ev.Type == typ && wc.Name == name {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event for %s within 30s", typ, name)
		}
	}
}

// runningKubectl is a kubectl process left running, such as a watch.
type runningKubectl struct {
	cmd *exec.Cmd
	out *strings.Builder
}

func (s *testServer) startKubectl(t *testing.T, args ...string) *runningKubectl {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	r := &runningKubectl{out: &strings.Builder{}}
	r.cmd = exec.CommandContext(ctx, kubectlPath(t), append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// wait returns the output once the process has ended, as a watch does at its
// request timeout.
func (r *runningKubectl) wait(t *testing.T) string {
	t.Helper()
	_ = r.cmd.Wait()
	return r.out.String()
}
