//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplicas_AggregatedAPI serves the API group from three replicas behind
// kube-apiserver's aggregator and kills (SIGKILL) one while kubectl reads
// and applies WasmControllers in a loop. The aggregator proxies each
// request to one ready endpoint it picks at random and does not retry: a
// request sent to the dead replica fails at once (connection refused, 503).
// Acting as the endpoints controller, the test marks the dead replica's
// endpoint not ready when its /readyz stops answering (probed every second,
// about as soon as a kubelet reports a container that exited): from then on
// no request may fail, and none may fail before the kill; what fails in
// between is logged. The APIService stays
// Available throughout.
func TestReplicas_AggregatedAPI(t *testing.T) {
	c := clusterFromEnv(t)
	root, work := repoRoot(t), t.TempDir()
	admin := c.Kubeconfig
	group := fmt.Sprintf("agg-%d", time.Now().Unix())
	rs, ep := startServingReplicas(t, c, root, work, group, 3)
	waitAvailable(t, admin, "True", rs[0].srv)
	name := group + "-applied"
	t.Cleanup(func() {
		_, _ = runAfter(time.Minute, "kubectl", "--kubeconfig", admin, "delete", "wc", "-n", "default", name, "--ignore-not-found")
	})
	// Every replica answers through the aggregator before the load starts.
	mustKubectl(t, admin, appliedController(name, 0), "apply", "-f", "-")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var following sync.WaitGroup
	following.Go(func() { ep.follow(ctx, t, rs, time.Second) })
	defer following.Wait()

	load := startKubectlLoad(t, admin, filepath.Join(work, "kubectl-cache"), name)

	// The kill falls halfway between two probes: the dead endpoint stays
	// ready for about half a second, as long as a kubelet might take to
	// report the container's exit.
	time.Sleep(5*time.Second + 500*time.Millisecond)
	victim := rs[0]
	killed := time.Now()
	victim.srv.kill(t)
	t.Logf("killed %s in %v", victim.id, time.Since(killed).Round(time.Millisecond))
	// Past the victim's lease duration (8 s), so its controllers move
	// while the load runs.
	time.Sleep(15 * time.Second)
	calls := load.stop()
	cancel()

	notReady, ok := ep.markedNotReady(victim.id)
	if !ok {
		t.Fatalf("the endpoint of %s was never marked not ready", victim.id)
	}
	// The aggregator learns of the slice's change through its informer;
	// a second covers that and the kubectl that started just before.
	settled := notReady.Add(time.Second)
	var before, window, after []kubectlCall
	for _, call := range calls {
		switch {
		case call.err == nil:
		case call.end.Before(killed):
			before = append(before, call)
		case call.start.After(settled):
			after = append(after, call)
		default:
			window = append(window, call)
		}
	}
	var inWindow int
	for _, call := range calls {
		if !call.end.Before(killed) && !call.start.After(settled) {
			inWindow++
		}
	}
	t.Logf("%d kubectl runs; endpoint of %s marked not ready %v after the kill; %d of %d runs in that window failed",
		len(calls), victim.id, notReady.Sub(killed).Round(time.Millisecond), len(window), inWindow)
	for _, call := range window {
		t.Logf("failed in the window (%s at +%v, in %v): %s", call.what, call.start.Sub(killed).Round(time.Millisecond),
			call.end.Sub(call.start).Round(time.Millisecond), strings.TrimSpace(call.out))
		if !strings.Contains(call.out, "ServiceUnavailable") && !strings.Contains(call.out, "unable to handle the request") &&
			!strings.Contains(call.out, "error trying to reach service") {
			t.Errorf("a request during the window failed otherwise than as unavailable: %s", call.out)
		}
	}
	for _, call := range before {
		t.Errorf("%s failed before the kill: %v\n%s", call.what, call.err, call.out)
	}
	for _, call := range after {
		t.Errorf("%s failed %v after the kill, once the dead endpoint was not ready: %v\n%s",
			call.what, call.start.Sub(killed).Round(time.Millisecond), call.err, call.out)
	}
	if n := len(calls); n < 20 {
		t.Errorf("only %d kubectl runs in 20 s: the load did not run", n)
	}

	waitAvailable(t, admin, "True", rs[1].srv)
	seq := strings.TrimSpace(mustKubectl(t, admin, "", "get", "wc", "-n", "default", name, "-o", "jsonpath={.spec.env[0].value}"))
	if seq == "0" {
		t.Errorf("no apply took effect through the aggregator (spec.env SEQ=%s)", seq)
	}
	eventually(t, time.Minute, name+" owned by a survivor", func() (bool, string) {
		owner, _ := kubectl(t, admin, "", "get", "wc", "-n", "default", name, "-o", "jsonpath={.status.owner}")
		return owner == wantOwner(rs[1:], "default/"+name), "status.owner " + owner
	})
}
