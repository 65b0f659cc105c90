//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fault suite: each test breaks something under a running controller
// and checks that no change is lost and nothing stale is left behind. The
// configmap-replicator example is the controller: each test replicates
// the sources of its own namespace into target namespaces of its own, and
// compares copies with sources.

// TestFaults_KillWithBacklog kills wasm-apiserver with SIGKILL while the
// replicator still works through a backlog of changes, and restarts it on
// the same state directory: every change ends reconciled.
func TestFaults_KillWithBacklog(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, srv := runControllers(t, c, root, t.TempDir())
	deployReplicator(t, c, root, wasmctl, true)
	// Ten targets: each reconcile of a source writes ten copies, so the
	// work outlasts the requests that cause it.
	src, targets := replicaNamespaces(t, admin, "faults-kill", 10)

	first := names("kill", 30)
	mustKubectl(t, admin, sourcesYAML(src, first, "1"), "create", "-f", "-")
	waitCopies(t, admin, src, targets, copiesOf(src, first, "1"), 90*time.Second)
	deleted, changed, added := first[:10], first[10:], names("kill-new", 10)
	mustKubectl(t, admin, "", slices.Concat([]string{"-n", src, "label", "configmap"}, deleted, []string{"faults.wasm.io/batch=gone"})...)

	// The backlog: most sources change, new ones come, and a third of the
	// old ones go in one request just before the kill.
	mustKubectl(t, admin, sourcesYAML(src, slices.Concat(changed, added), "2"), "apply", "-f", "-")
	mustKubectl(t, admin, "", "delete", "--raw", "/api/v1/namespaces/"+src+"/configmaps?labelSelector=faults.wasm.io%2Fbatch%3Dgone")
	srv.kill(t)
	want := copiesOf(src, slices.Concat(changed, added), "2")
	logBacklog(t, admin, src, targets, want, "killed")

	srv.start(t)
	waitReady(t, wasmctl, srv)
	waitCopies(t, admin, src, targets, want, 90*time.Second)
}

// TestFaults_DeletesAndRelabelsWhileDown deletes sources and takes the
// selecting label off others while wasm-apiserver is down, with a
// controller that has no resync: once it is back, the copies of what went
// away go too, promptly, not at some later resync.
func TestFaults_DeletesAndRelabelsWhileDown(t *testing.T) {
	c := clusterFromEnv(t)
	root := repoRoot(t)
	admin := c.Kubeconfig
	wasmctl, srv := runControllers(t, c, root, t.TempDir())
	deployReplicator(t, c, root, wasmctl, false)
	src, targets := replicaNamespaces(t, admin, "faults-down", 1)

	all := names("down", 9)
	mustKubectl(t, admin, sourcesYAML(src, all, "1"), "create", "-f", "-")
	waitCopies(t, admin, src, targets, copiesOf(src, all, "1"), time.Minute)

	srv.kill(t)
	deleted, relabelled, changed, kept := all[:3], all[3:6], all[6:7], all[7:]
	mustKubectl(t, admin, "", append([]string{"-n", src, "delete", "configmap"}, deleted...)...)
	mustKubectl(t, admin, "", slices.Concat([]string{"-n", src, "label", "configmap"}, relabelled, []string{"wasm.io/replicate-"})...)
	mustKubectl(t, admin, sourcesYAML(src, changed, "2"), "apply", "-f", "-")

	srv.start(t)
	waitReady(t, wasmctl, srv)
	want := copiesOf(src, changed, "2")
	for name, v := range copiesOf(src, kept, "1") {
		want[name] = v
	}
	waitCopies(t, admin, src, targets, want, 30*time.Second)
}

// deployReplicator runs the configmap-replicator example, without its
// resyncPeriod unless resync.
func deployReplicator(t *testing.T, c *cluster, root, wasmctl string, resync bool) {
	t.Helper()
	const name = "configmap-replicator"
	dir := filepath.Join(root, "examples", name)
	publishModule(t, c, root, name)
	mustKubectl(t, c.Kubeconfig, "", "apply", "-f", filepath.Join(dir, "rbac.yaml"))
	manifest := string(mustRead(t, filepath.Join(dir, "wasmcontroller.yaml")))
	if !resync {
		without := strings.Replace(manifest, "\n  resyncPeriod: 10m\n", "\n", 1)
		if without == manifest {
			t.Fatal("the example's WasmController has no resyncPeriod: 10m to take out")
		}
		manifest = without
	}
	mustKubectl(t, wasmctl, manifest, "apply", "-f", "-")
	waitPhase(t, wasmctl, name, loaded, "1")
}

// replicaNamespaces makes a source namespace named prefix and n target
// namespaces prefix-copies-<i>. When the test ends, its sources are
// deleted and its targets are no longer targets, so that later tests'
// replicators have no work from it.
func replicaNamespaces(t *testing.T, admin, prefix string, n int) (string, []string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", prefix)
	var targets []string
	for i := range n {
		ns := fmt.Sprintf("%s-copies-%d", prefix, i)
		targets = append(targets, ns)
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {wasm.io/replicate-configmaps: \"true\"}}\n", ns)
	}
	mustKubectl(t, admin, b.String(), "apply", "-f", "-")
	t.Cleanup(func() {
		kubectlAfter(t, admin, "-n", prefix, "delete", "configmap", "-l", "wasm.io/replicate=true", "--wait=false")
		kubectlAfter(t, admin, slices.Concat([]string{"label", "namespace"}, targets, []string{"wasm.io/replicate-configmaps-"})...)
	})
	return prefix, targets
}

// kubectlAfter runs kubectl from a cleanup, when the test's context is
// done; a failure is reported, not fatal.
func kubectlAfter(t *testing.T, kubeconfig string, args ...string) {
	t.Helper()
	out, err := runAfter(time.Minute, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	if err != nil {
		t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// runAfter runs a command with a bounded time and no test context, as a
// cleanup must.
func runAfter(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// names returns n names prefix-00, prefix-01, ...
func names(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%02d", prefix, i))
	}
	return out
}

// sourcesYAML is ConfigMaps to replicate, each with data v=value.
func sourcesYAML(namespace string, names []string, value string) string {
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s, labels: {wasm.io/replicate: \"true\"}}\ndata: {v: %q}\n",
			name, namespace, value)
	}
	return b.String()
}

// copiesOf is what copies list for these sources: name=value.
func copiesOf(namespace string, names []string, value string) map[string]string {
	want := map[string]string{}
	for _, name := range names {
		want[name] = value
	}
	return want
}

// copies returns the copies in target of the sources in namespace, name to
// data v.
func copies(t *testing.T, admin, namespace, target string) map[string]string {
	t.Helper()
	out, err := kubectl(t, admin, "", "-n", target, "get", "configmaps", "-l", "wasm.io/replicated-from",
		"-o", `jsonpath={range .items[*]}{.metadata.labels.wasm\.io/replicated-from}={.data.v}{"\n"}{end}`)
	if err != nil {
		t.Logf("listing copies in %s: %v\n%s", target, err, out)
		return nil
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		from, v, _ := strings.Cut(line, "=")
		if name, ok := strings.CutPrefix(from, namespace+"."); ok {
			got[name] = v
		}
	}
	return got
}

// logBacklog logs how far the copies are from want, after what.
func logBacklog(t *testing.T, admin, namespace string, targets []string, want map[string]string, after string) {
	t.Helper()
	var right, wrong int
	for _, ns := range targets {
		got := copies(t, admin, namespace, ns)
		right += matching(got, want)
		wrong += len(got) - matching(got, want)
	}
	t.Logf("%s with %d of %d copies right and %d stale or orphaned", after, right, len(want)*len(targets), wrong)
}

// matching counts the entries of want that got has with the same value.
func matching(got, want map[string]string) int {
	n := 0
	for k, v := range want {
		if g, ok := got[k]; ok && g == v {
			n++
		}
	}
	return n
}

// waitCopies waits until each target holds exactly the copies want.
func waitCopies(t *testing.T, admin, namespace string, targets []string, want map[string]string, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	eventually(t, timeout, "copies match their sources", func() (bool, string) {
		for _, ns := range targets {
			got := copies(t, admin, namespace, ns)
			if len(got) != len(want) || matching(got, want) != len(want) {
				return false, fmt.Sprintf("in %s: %s", ns, diffCopies(got, want))
			}
		}
		return true, ""
	})
	t.Logf("copies matched in %s", time.Since(start).Round(100*time.Millisecond))
}

// diffCopies says what is missing, stale or extra.
func diffCopies(got, want map[string]string) string {
	var missing, stale, extra []string
	for k, v := range want {
		switch g, ok := got[k]; {
		case !ok:
			missing = append(missing, k)
		case g != v:
			stale = append(stale, k+"="+g)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	slices.Sort(extra)
	return fmt.Sprintf("missing %v, stale %v, extra %v", missing, stale, extra)
}
