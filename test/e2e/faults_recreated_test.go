//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFaults_RecreatedObject deletes a WasmController in the middle of a
// reconcile and creates one of the same name at once: the new object shows
// a status of its own from the start, and nothing the old controller
// writes as it stops lands on it.
func TestFaults_RecreatedObject(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, _ := runControllers(t, c, root, t.TempDir())
	publishModule(t, c, root, "misbehave")
	const name, sa, trigger = "faults-recreated", "faults-recreated", "faults-recreated-trigger"
	grantWatch(t, admin, "default", sa, "configmaps")
	manifest := func(reconcile, watched string) string {
		return fmt.Sprintf(`apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: %s, namespace: default}
spec:
  module:
    configMapRef: {name: misbehave-module, key: module.wasm.gz}
  serviceAccountName: %s
  env: [{name: MISBEHAVE_RECONCILE, value: %s}]
  limits: {reconcileTimeout: 20s}
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=%s
`, name, sa, reconcile, watched)
	}
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", trigger, "--from-literal=x=1")
	t.Cleanup(func() {
		kubectlAfter(t, admin, "-n", "default", "delete", "configmap", trigger, "--ignore-not-found", "--wait=false")
	})

	// The old object: woken once, then changed to sleep in its reconcile,
	// and woken again.
	mustKubectl(t, wasmctl, manifest("none", trigger), "apply", "-f", "-")
	waitPhase(t, wasmctl, name, loaded, "1")
	eventually(t, time.Minute, "the old object counts its wake", func() (bool, string) {
		s := wcState(t, wasmctl, name)
		return s.Status.Wakes >= 1, fmt.Sprint(s.Status)
	})
	mustKubectl(t, wasmctl, manifest("sleep", trigger), "apply", "-f", "-")
	waitPhase(t, wasmctl, name, loaded, "2")
	eventually(t, time.Minute, "the old object is in a reconcile", func() (bool, string) {
		n := metric(t, wasmctl, "wasm_apiserver_running_guests")
		return n >= 1, fmt.Sprintf("%v running", n)
	})
	old := wcState(t, wasmctl, name)
	time.Sleep(time.Second) // the new object's times are later than the old one's

	// Deleted while the guest sleeps, and made again at once. The new one
	// watches nothing that exists: it is never woken.
	mustKubectl(t, wasmctl, "", "-n", "default", "delete", "wc", name)
	mustKubectl(t, wasmctl, manifest("sleep", "faults-recreated-nothing"), "create", "-f", "-")
	t.Cleanup(func() {
		kubectlAfter(t, wasmctl, "-n", "default", "delete", "wc", name, "--ignore-not-found")
	})

	// Until the old reconcile has ended (by the cancel of the stop or by its
	// timeout) and a little longer, for the old controller's last write,
	// the new object shows only what is its own.
	var stoppedAt time.Time
	deadline := time.Now().Add(time.Minute)
	for {
		s := wcState(t, wasmctl, name)
		if s.UID == old.UID {
			t.Fatalf("the old object is still there: %+v", s)
		}
		if bad := notOwnStatus(s); bad != "" {
			t.Fatalf("the re-created object shows the old one's status: %s\nold: %+v\nnew: %+v", bad, old.Status, s.Status)
		}
		running := metric(t, wasmctl, "wasm_apiserver_running_guests")
		if running == 0 && stoppedAt.IsZero() {
			stoppedAt = time.Now()
		}
		if !stoppedAt.IsZero() && time.Since(stoppedAt) > 5*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old object's reconcile still runs a minute after its delete (%v running)", running)
		}
		time.Sleep(300 * time.Millisecond)
	}
	waitPhase(t, wasmctl, name, loaded, "1")
	if bad := notOwnStatus(wcState(t, wasmctl, name)); bad != "" {
		t.Errorf("the re-created object, loaded: %s", bad)
	}
}

// wcObject is the part of a WasmController the test reads.
type wcObject struct {
	metav1.ObjectMeta `json:"metadata"`
	Status            struct {
		ObservedGeneration int64              `json:"observedGeneration"`
		Wakes              int64              `json:"wakes"`
		LastWakeTime       *metav1.Time       `json:"lastWakeTime"`
		LastWakeReason     string             `json:"lastWakeReason"`
		LastError          string             `json:"lastError"`
		Conditions         []metav1.Condition `json:"conditions"`
	} `json:"status"`
}

func wcState(t *testing.T, kubeconfig, name string) wcObject {
	t.Helper()
	var wc wcObject
	out := mustKubectl(t, kubeconfig, "", "-n", "default", "get", "wc", name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &wc); err != nil {
		t.Fatalf("decoding %s: %v\n%s", name, err, out)
	}
	return wc
}

// notOwnStatus says what in the status of a never-woken object at
// generation 1 cannot be its own, or "".
func notOwnStatus(wc wcObject) string {
	s := wc.Status
	var bad []string
	if wc.Generation != 1 {
		bad = append(bad, fmt.Sprintf("generation %d", wc.Generation))
	}
	if s.ObservedGeneration > wc.Generation {
		bad = append(bad, fmt.Sprintf("observedGeneration %d", s.ObservedGeneration))
	}
	if s.Wakes != 0 || s.LastWakeTime != nil || s.LastWakeReason != "" {
		bad = append(bad, fmt.Sprintf("wakes %d (last %v, %q)", s.Wakes, s.LastWakeTime, s.LastWakeReason))
	}
	if s.LastError != "" {
		bad = append(bad, fmt.Sprintf("lastError %q", s.LastError))
	}
	for _, cond := range s.Conditions {
		if cond.ObservedGeneration > wc.Generation || cond.LastTransitionTime.Before(&wc.CreationTimestamp) {
			bad = append(bad, fmt.Sprintf("condition %s at generation %d since %s, object created %s", cond.Type,
				cond.ObservedGeneration, cond.LastTransitionTime.UTC().Format(time.RFC3339), wc.CreationTimestamp.UTC().Format(time.RFC3339)))
		}
	}
	return strings.Join(bad, "; ")
}
