//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFaults_RecreatedObject deletes a WasmController while its guest
// sleeps in a reconcile and creates one of the same name at once: the new
// object shows a status of its own from its first version on, and nothing
// the old controller writes as it stops lands on it.
//
// The old controller must outlive its object for that to be tested: two
// controllers of the namespace whose modules come from a registry that
// never answers hold its loads, so the host stops the old controller only
// after the new object exists.
func TestFaults_RecreatedObject(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	// holdLoads' registry is on loopback.
	wasmctl, _ := runControllersWith(t, c, root, t.TempDir(), "--allow-local-module-sources")
	publishModule(t, c, root, "misbehave")
	const name, sa, trigger = "faults-recreated", "faults-recreated", "faults-recreated-trigger"
	grantWatch(t, admin, "default", sa, "configmaps")
	manifest := func(watched string) string {
		return fmt.Sprintf(`apiVersion: controllers.wasm.io/v1alpha1
kind: WasmController
metadata: {name: %s, namespace: default}
spec:
  module:
    configMapRef: {name: misbehave-module, key: module.wasm.gz}
  serviceAccountName: %s
  env: [{name: MISBEHAVE_RECONCILE, value: sleep}]
  limits: {reconcileTimeout: 2s}
  watches:
  - apiVersion: v1
    kind: ConfigMap
    namespace: default
    fieldSelector: metadata.name=%s
`, name, sa, watched)
	}
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", trigger, "--from-literal=x=1")
	t.Cleanup(func() {
		kubectlAfter(t, admin, "-n", "default", "delete", "configmap", trigger, "--ignore-not-found", "--wait=false")
	})

	// The old object: its guest sleeps in every reconcile until the
	// reconcile times out, and is retried; each failure changes its status.
	mustKubectl(t, wasmctl, manifest(trigger), "apply", "-f", "-")
	waitPhase(t, wasmctl, name, loaded, "1")
	eventually(t, time.Minute, "the old object counts failed wakes", func() (bool, string) {
		s := wcState(t, wasmctl, name)
		return s.Status.Wakes >= 2 && s.Status.LastError != "", fmt.Sprint(s.Status)
	})
	old := wcState(t, wasmctl, name)
	holdLoads(t, wasmctl, "default", sa, 2)
	time.Sleep(time.Second) // the new object's times are later than the old one's

	// Every version of the object from now on, old and new.
	watch := exec.Command("kubectl", "--kubeconfig", wasmctl, "-n", "default", "get", "wc", name,
		"-w", "-o", "json", "--output-watch-events")
	var watched bytes.Buffer
	watch.Stdout = &watched
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	stopWatch := func() {
		_ = watch.Process.Kill()
		_ = watch.Wait()
	}
	defer stopWatch()
	time.Sleep(time.Second)

	// Deleted mid-reconcile and made again at once; the new one watches
	// nothing that exists: it is never woken.
	mustKubectl(t, wasmctl, manifest("faults-recreated-nothing"), "replace", "--force", "-f", "-")
	t.Cleanup(func() {
		kubectlAfter(t, wasmctl, "-n", "default", "delete", "wc", name, "--ignore-not-found")
	})
	waitPhase(t, wasmctl, name, loaded, "1")
	time.Sleep(5 * time.Second) // for a late write of the old controller
	stopWatch()

	versions := 0
	dec := json.NewDecoder(&watched)
	for {
		var ev struct {
			Type   string   `json:"type"`
			Object wcObject `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			break
		}
		if ev.Object.UID == old.UID {
			continue
		}
		versions++
		if bad := notOwnStatus(ev.Object); bad != "" {
			t.Errorf("a version of the re-created object shows what is not its own (%s event): %s", ev.Type, bad)
		}
	}
	if versions == 0 {
		t.Fatalf("the watch saw no version of the re-created object:\n%s", watched.String())
	}
	t.Logf("watched %d versions of the re-created object", versions)
	if bad := notOwnStatus(wcState(t, wasmctl, name)); bad != "" {
		t.Errorf("the re-created object, loaded: %s", bad)
	}
}

// holdLoads makes n WasmControllers in namespace whose modules come from
// a registry that accepts connections and never answers: each holds one
// of the namespace's loads until its fetch times out. It returns once
// they are loading. serviceAccount may watch ConfigMaps in namespace.
func holdLoads(t *testing.T, wasmctl, namespace, serviceAccount string, n int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range held {
			conn.Close()
		}
	})
	var b strings.Builder
	var names []string
	for i := range n {
		name := fmt.Sprintf("faults-hold-%d", i)
		names = append(names, name)
		fmt.Fprintf(&b, "---\napiVersion: controllers.wasm.io/v1alpha1\nkind: WasmController\nmetadata: {name: %s, namespace: %s}\n"+
			"spec:\n  module: {image: \"%s/hold:v1\"}\n  serviceAccountName: %s\n"+
			"  watches: [{apiVersion: v1, kind: ConfigMap, namespace: %s}]\n", name, namespace, l.Addr(), serviceAccount, namespace)
	}
	mustKubectl(t, wasmctl, b.String(), "create", "-f", "-")
	t.Cleanup(func() {
		kubectlAfter(t, wasmctl, append([]string{"-n", namespace, "delete", "wc", "--ignore-not-found", "--wait=false"}, names...)...)
	})
	for _, name := range names {
		waitPhase(t, wasmctl, name, "Loading", "1")
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
