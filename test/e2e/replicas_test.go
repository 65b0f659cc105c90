//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	clientset "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

// replica is one of the host-run wasm-apiservers that share an etcd and
// the WasmControllers; each serves standalone (its own token) and reaches
// the cluster as the artifacts' ServiceAccount.
type replica struct {
	id  string
	srv *serverProcess
	// client is the replica's own API, with its generated credential.
	client clientset.Interface
}

// startReplicas applies artifacts/ and starts n replicas of group on the
// cluster's etcd, under a prefix of their own, and waits until each
// serves. The replicas log every reconcile (level 4 of the host's
// controller.go).
func startReplicas(t *testing.T, c *cluster, root, work, group string, n int) []*replica {
	t.Helper()
	etcdURL := os.Getenv("ETCD_URL")
	if etcdURL == "" {
		t.Fatal("ETCD_URL is not set: run with `make test-e2e`")
	}
	applyArtifacts(t, c.Kubeconfig, root, work)
	saConfig := filepath.Join(work, "wasm-apiserver.kubeconfig")
	saKubeconfig(t, c, "wasm-system", "wasm-apiserver", saConfig)
	bin := buildServer(t, root, work)
	var rs []*replica
	for i := range n {
		id := fmt.Sprintf("replica-%d", i)
		r := &replica{id: id, srv: &serverProcess{bin: bin, stateDir: filepath.Join(work, id), port: freePort(t), args: []string{
			"--standalone", "--kubeconfig=" + saConfig,
			"--etcd-servers=" + etcdURL, "--etcd-prefix=/e2e-" + group,
			"--sharding", "--sharding-group=" + group, "--sharding-identity=" + id,
			"--vmodule=controller=4",
		}}}
		if err := os.MkdirAll(r.srv.stateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		r.srv.start(t)
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.waitReady(t)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range rs {
				t.Logf("%s log:\n%s", r.id, r.srv.logTail())
			}
		}
	})
	return rs
}

// waitReady waits until the replica serves, and builds its client.
func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	kubeconfig := filepath.Join(r.srv.stateDir, "kubeconfig")
	waitReady(t, kubeconfig, r.srv)
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	r.client = clientset.NewForConfigOrDie(cfg)
}

// ids are the replicas' ids.
func ids(rs []*replica) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.id
	}
	return out
}

// wantOwner is the replica that should run key among live.
func wantOwner(live []*replica, key string) string { return sharding.Owner(ids(live), key) }

// reconcileSpan is one reconcile of one key by one replica, from the host's
// level-4 log: from its start to its end, or to the replica's death.
type reconcileSpan struct {
	replica    string
	controller string
	key        string
	start, end time.Time
}

var reconcileLine = regexp.MustCompile(`^I(\d{4} \d{2}:\d{2}:\d{2}\.\d{6}) .*"Reconcile (started|ended)" wasmController="([^"]+)" key="([^"]+)"`)

// reconcileSpans reads a replica's log; a reconcile under way when the log
// ends lasts until died (zero: it is still running, until now).
func reconcileSpans(t *testing.T, r *replica, died time.Time) []reconcileSpan {
	t.Helper()
	f, err := os.Open(r.srv.logPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	open := map[string]*reconcileSpan{}
	var spans []reconcileSpan
	year := time.Now().Year()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := reconcileLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err := time.ParseInLocation("0102 15:04:05.000000", m[1], time.Local)
		if err != nil {
			t.Fatalf("%s: timestamp %q: %v", r.id, m[1], err)
		}
		at = at.AddDate(year, 0, 0)
		id := m[3] + " " + m[4]
		if m[2] == "started" {
			open[id] = &reconcileSpan{replica: r.id, controller: m[3], key: m[4], start: at}
			continue
		}
		if s := open[id]; s != nil {
			s.end = at
			spans = append(spans, *s)
			delete(open, id)
		}
	}
	if died.IsZero() {
		died = time.Now()
	}
	for _, s := range open {
		s.end = died
		spans = append(spans, *s)
	}
	return spans
}

// overlaps lists every two reconciles of one key of one controller by two
// replicas at overlapping times.
func overlaps(spans []reconcileSpan) []string {
	slices.SortFunc(spans, func(a, b reconcileSpan) int { return a.start.Compare(b.start) })
	var out []string
	last := map[string]reconcileSpan{} // the latest-ending span per controller and key
	for _, s := range spans {
		id := s.controller + " " + s.key
		if p, ok := last[id]; ok && p.replica != s.replica && s.start.Before(p.end) {
			out = append(out, fmt.Sprintf("%s: %s ran it %s–%s, %s from %s", id, p.replica,
				p.start.Format("15:04:05.000000"), p.end.Format("15:04:05.000000"), s.replica, s.start.Format("15:04:05.000000")))
		}
		if p, ok := last[id]; !ok || s.end.After(p.end) {
			last[id] = s
		}
	}
	return out
}

// perReplica counts spans by replica, for the test's log.
func perReplica(spans []reconcileSpan) string {
	n := map[string]int{}
	for _, s := range spans {
		n[s.replica]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + strconv.Itoa(n[k]) + " ")
	}
	return strings.TrimSpace(b.String())
}
