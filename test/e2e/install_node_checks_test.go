//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// checkPodConfinement checks the running server pod against what
// artifacts/ promises: the built image, non-root user 65532, a read-only
// root filesystem, no capabilities, no privilege escalation, probes, and
// its state on the claim; first as the API reports the pod, then as the
// kernel sees its process.
func checkPodConfinement(t *testing.T, admin, image string) {
	var pod corev1.Pod
	if err := json.Unmarshal([]byte(mustKubectl(t, admin, "", "-n", serverNamespace, "get", "pod", serverPod, "-o", "json")), &pod); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Containers) != 1 || len(pod.Status.ContainerStatuses) != 1 {
		t.Fatalf("pod has %d containers and %d statuses, want 1", len(pod.Spec.Containers), len(pod.Status.ContainerStatuses))
	}
	ctr, st := pod.Spec.Containers[0], pod.Status.ContainerStatuses[0]
	psc, csc := pod.Spec.SecurityContext, ctr.SecurityContext
	if psc == nil || csc == nil || csc.Capabilities == nil {
		t.Fatalf("pod or container without a security context: %+v %+v", psc, csc)
	}
	got := map[string]string{
		"image":                    ctr.Image,
		"ready":                    fmt.Sprint(st.Ready),
		"runAsNonRoot":             fmt.Sprint(deref(psc.RunAsNonRoot)),
		"runAsUser":                fmt.Sprint(deref(psc.RunAsUser)),
		"readOnlyRootFilesystem":   fmt.Sprint(deref(csc.ReadOnlyRootFilesystem)),
		"allowPrivilegeEscalation": fmt.Sprint(deref(csc.AllowPrivilegeEscalation)),
		"capabilities.drop":        fmt.Sprint(csc.Capabilities.Drop),
		"capabilities.add":         fmt.Sprint(csc.Capabilities.Add),
		"probes":                   probePaths(ctr),
		"state volume":             stateVolume(pod.Spec),
	}
	want := map[string]string{
		"image":                    image,
		"ready":                    "true",
		"runAsNonRoot":             "true",
		"runAsUser":                "65532",
		"readOnlyRootFilesystem":   "true",
		"allowPrivilegeEscalation": "false",
		"capabilities.drop":        "[ALL]",
		"capabilities.add":         "[]",
		"probes":                   "liveness /livez, readiness /readyz, startup /livez",
		"state volume":             "claim " + stateClaim,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pod spec and status (-want +got):\n%s", diff)
	}

	p := findContainerProcess(t, st.ContainerID, "wasm-apiserver")
	gotProc := map[string]string{
		"Uid": p.status["Uid"], "Gid": p.status["Gid"],
		"CapEff": p.status["CapEff"], "CapPrm": p.status["CapPrm"], "CapBnd": p.status["CapBnd"],
		"NoNewPrivs": p.status["NoNewPrivs"], "root read-only": fmt.Sprint(slices.Contains(p.rootOptions, "ro")),
	}
	wantProc := map[string]string{
		"Uid": "65532 65532 65532 65532", "Gid": "65532 65532 65532 65532",
		"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000",
		"NoNewPrivs": "1", "root read-only": "true",
	}
	if diff := cmp.Diff(wantProc, gotProc); diff != "" {
		t.Errorf("the server's process (-want +got):\n%s", diff)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "<unset>"
	}
	return *p
}

// probePaths lists a container's HTTP probes as "kind path".
func probePaths(c corev1.Container) string {
	var out []string
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
	}{{"liveness", c.LivenessProbe}, {"readiness", c.ReadinessProbe}, {"startup", c.StartupProbe}} {
		if p.probe != nil && p.probe.HTTPGet != nil {
			out = append(out, p.kind+" "+p.probe.HTTPGet.Path)
		}
	}
	return strings.Join(out, ", ")
}

// stateVolume says where the volume named state comes from.
func stateVolume(spec corev1.PodSpec) string {
	for _, v := range spec.Volumes {
		if v.Name != "state" {
			continue
		}
		if v.PersistentVolumeClaim != nil {
			return "claim " + v.PersistentVolumeClaim.ClaimName
		}
		return fmt.Sprintf("not a claim: %+v", v.VolumeSource)
	}
	return "none"
}

// replication is a source ConfigMap the configmap-replicator example
// copies into a namespace that asks for it.
type replication struct {
	admin, source, target string
}

func newReplication(t *testing.T, admin string) *replication {
	t.Helper()
	n := time.Now().UnixNano() % 1_000_000
	r := &replication{admin: admin, source: fmt.Sprintf("install-source-%d", n), target: fmt.Sprintf("install-copies-%d", n)}
	mustKubectl(t, admin, "", "create", "namespace", r.target)
	mustKubectl(t, admin, "", "label", "namespace", r.target, "wasm.io/replicate-configmaps=true")
	mustKubectl(t, admin, "", "-n", "default", "create", "configmap", r.source, "--from-literal=color=blue")
	mustKubectl(t, admin, "", "-n", "default", "label", "configmap", r.source, "wasm.io/replicate=true")
	t.Cleanup(func() {
		kubectlAfter(t, admin, "-n", "default", "delete", "configmap", r.source, "--ignore-not-found")
		kubectlAfter(t, admin, "delete", "namespace", r.target, "--wait=false")
	})
	return r
}

// change sets the source's color.
func (r *replication) change(t *testing.T, color string) {
	t.Helper()
	mustKubectl(t, r.admin, "", "-n", "default", "patch", "configmap", r.source, "--type=merge", "-p", `{"data":{"color":"`+color+`"}}`)
}

// expect waits until the copy has the color: the guest reconciled.
func (r *replication) expect(t *testing.T, color string) {
	t.Helper()
	eventually(t, 2*time.Minute, "the copy in "+r.target+" has color "+color, func() (bool, string) {
		out, _ := kubectl(t, r.admin, "", "-n", r.target, "get", "configmap", r.source, "-o", "jsonpath={.data.color}")
		return out == color, out
	})
}
