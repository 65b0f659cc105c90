//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// handoffRelays is how many relay controllers the handoff test runs: each
// copies ConfigMap hop-<2i> to hop-<2i+1>.
const handoffRelays = 100

// relayWasmController is relay i of the handoff test, in namespace.
func relayWasmController(namespace string, i int) *v1alpha1.WasmController {
	hop := strconv.Itoa(2 * i)
	return &v1alpha1.WasmController{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("relay-%d", i)},
		Spec: v1alpha1.WasmControllerSpec{
			Module:             v1alpha1.ModuleSource{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "relay-module", Key: "module.wasm.gz"}},
			ServiceAccountName: "relay",
			Env:                []v1alpha1.EnvVar{{Name: "RELAY_HOP", Value: hop}},
			Watches: []v1alpha1.Watch{{APIVersion: "v1", Kind: "ConfigMap", Namespace: namespace,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bench.wasm.io/hop": hop}},
				WakeWhen:      "eventType != 'DELETED'"}},
			Suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever},
		},
	}
}

// relayReplicas starts three replicas of a new sharding group named after
// prefix, and the relays' namespace, objects and RBAC; it returns an
// admin client and the namespace.
func relayReplicas(t *testing.T, c *cluster, prefix string) (kubernetes.Interface, string, []*replica) {
	t.Helper()
	root := repoRoot(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(cfg)
	group := fmt.Sprintf("%s-%d", prefix, time.Now().Unix())
	namespace := "e2e-" + group
	setUpRelays(t, admin, root, namespace)
	t.Cleanup(func() {
		_ = admin.CoreV1().Namespaces().Delete(context.Background(), namespace, metav1.DeleteOptions{})
	})
	return admin, namespace, startReplicas(t, c, root, t.TempDir(), group, 3)
}

// setUpRelays creates namespace with the relay module, its ServiceAccount
// and RBAC, and the ConfigMap each relay reads.
func setUpRelays(t *testing.T, admin kubernetes.Interface, root, namespace string) {
	t.Helper()
	ctx := t.Context()
	gz := gzippedModule(t, root, "relay")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}))
	must(admin.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "relay-module"},
		BinaryData: map[string][]byte{"module.wasm.gz": gz}}, metav1.CreateOptions{}))
	must(admin.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "relay"}}, metav1.CreateOptions{}))
	must(admin.RbacV1().Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "relay"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
			Verbs: []string{"get", "list", "watch", "create", "patch"}}}}, metav1.CreateOptions{}))
	must(admin.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "relay"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "relay"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "relay", Namespace: namespace}}}, metav1.CreateOptions{}))
	for i := range handoffRelays {
		hop := strconv.Itoa(2 * i)
		must(admin.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "hop-" + hop, Labels: map[string]string{"bench.wasm.io/hop": hop}},
			Data:       map[string]string{"v": "0"}}, metav1.CreateOptions{}))
	}
}

// relayed waits until hop-<2i+1> carries want[i] for every relay.
func relayed(t *testing.T, admin kubernetes.Interface, namespace string, want []string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every write relayed", func() (bool, string) {
		list, err := admin.CoreV1().ConfigMaps(namespace).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, cm := range list.Items {
			got[cm.Name] = cm.Data["v"]
		}
		var missing []string
		for i, w := range want {
			if name := "hop-" + strconv.Itoa(2*i+1); got[name] != w {
				missing = append(missing, fmt.Sprintf("%s=%q want %q", name, got[name], w))
			}
		}
		return len(missing) == 0, strings.Join(missing, " ")
	})
}

// TestReplicas_Handoff kills (SIGKILL) the replica running the most of
// handoffRelays controllers while writes stream to the objects they
// reconcile: afterwards every write is reconciled, the controllers run on
// the two others, and the replicas' reconcile logs show no key reconciled
// by two replicas at overlapping times.
func TestReplicas_Handoff(t *testing.T) {
	c := clusterFromEnv(t)
	admin, namespace, rs := relayReplicas(t, c, "handoff")
	start := time.Now()

	var names []string
	for i := range handoffRelays {
		wc := relayWasmController(namespace, i)
		names = append(names, wc.Name)
		if _, err := rs[i%3].client.ControllersV1alpha1().WasmControllers(namespace).Create(t.Context(), wc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]string, handoffRelays)
	for i := range want {
		want[i] = "0"
	}
	relayed(t, admin, namespace, want, 2*time.Minute)
	t.Logf("%d relays running on 3 replicas after %v", handoffRelays, time.Since(start).Round(time.Millisecond))

	owned := map[string]int{}
	for _, n := range names {
		owned[wantOwner(rs, namespace+"/"+n)]++
	}
	victim := rs[0]
	for _, r := range rs {
		if owned[r.id] > owned[victim.id] {
			victim = r
		}
	}
	var survivors []*replica
	for _, r := range rs {
		if r != victim {
			survivors = append(survivors, r)
		}
	}

	// Writes stream for 6 s before the kill and 12 s after it, past the
	// victim's lease duration (8 s): some land before its controllers
	// stop, some while nobody runs them, some after they moved.
	var mu sync.Mutex
	var writes int
	ctx, cancel := context.WithCancel(t.Context())
	var writers sync.WaitGroup
	writers.Go(func() {
		for seq := 1; ctx.Err() == nil; seq++ {
			i := rand.IntN(handoffRelays)
			v := strconv.Itoa(seq)
			_, err := admin.CoreV1().ConfigMaps(namespace).Patch(ctx, "hop-"+strconv.Itoa(2*i), types.MergePatchType,
				[]byte(`{"data":{"v":"`+v+`"}}`), metav1.PatchOptions{})
			if err == nil {
				mu.Lock()
				want[i], writes = v, writes+1
				mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	time.Sleep(6 * time.Second)
	victim.srv.kill(t)
	killed := time.Now()
	t.Logf("killed %s, which ran %d of %d controllers", victim.id, owned[victim.id], handoffRelays)
	time.Sleep(12 * time.Second)
	cancel()
	writers.Wait()

	relayed(t, admin, namespace, want, time.Minute)
	t.Logf("all %d writes relayed %v after the kill", writes, time.Since(killed).Round(time.Millisecond))
	for _, n := range names {
		wc, err := survivors[0].client.ControllersV1alpha1().WasmControllers(namespace).Get(t.Context(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if w := wantOwner(survivors, namespace+"/"+n); wc.Status.Owner != w {
			t.Errorf("%s: status.owner %q, want %q", n, wc.Status.Owner, w)
		}
	}

	// Each survivor holds exactly the controllers it owns, no more.
	for _, r := range survivors {
		kubeconfig := filepath.Join(r.srv.stateDir, "kubeconfig")
		want := 0
		for _, n := range names {
			if wantOwner(survivors, namespace+"/"+n) == r.id {
				want++
			}
		}
		eventually(t, 30*time.Second, r.id+" runs only its controllers", func() (bool, string) {
			got := metric(t, kubeconfig, "wasm_apiserver_guests_active") + metric(t, kubeconfig, "wasm_apiserver_guests_suspended")
			return int(got) == want, fmt.Sprintf("%s runs %v controllers, owns %d", r.id, got, want)
		})
	}

	var spans []reconcileSpan
	for _, r := range rs {
		var died time.Time
		if r == victim {
			died = killed
		}
		spans = append(spans, reconcileSpans(t, r, died)...)
	}
	t.Logf("reconciles per replica: %s", perReplica(spans))
	if len(spans) < writes {
		t.Errorf("%d reconciles in the replicas' logs for %d writes: the level-4 log is not what the test reads", len(spans), writes)
	}
	for _, o := range overlaps(spans) {
		t.Errorf("reconciled at once by two replicas: %s", o)
	}

	// Failover: from the kill to the first reconcile of each of the
	// victim's controllers on a survivor (its start's resync).
	var moved []string
	for _, n := range names {
		if wantOwner(rs, namespace+"/"+n) == victim.id {
			moved = append(moved, namespace+"/"+n)
		}
	}
	failovers := failoverTimes(spans, moved, killed)
	if len(failovers) != len(moved) {
		t.Fatalf("%d of the victim's %d controllers reconciled on a survivor after the kill", len(failovers), len(moved))
	}
	p50, slowest := failovers[len(failovers)/2], failovers[len(failovers)-1]
	t.Logf("failover of %d controllers: p50 %v, slowest %v after the kill", len(moved), p50.Round(time.Millisecond), slowest.Round(time.Millisecond))
	// The lease duration (8 s) and a renew interval, plus the loads, on a
	// loaded machine; far under the 10m resync that would hide a lost
	// handoff.
	if slowest > 30*time.Second {
		t.Errorf("the victim's controllers reconciled on survivors %v after the kill, want well under 30 s", slowest)
	}
}

// failoverTimes returns, sorted, how long after killed each of controllers
// first reconciled anywhere.
func failoverTimes(spans []reconcileSpan, controllers []string, killed time.Time) []time.Duration {
	first := map[string]time.Time{}
	for _, s := range spans {
		if s.start.Before(killed) {
			continue
		}
		if f, ok := first[s.controller]; !ok || s.start.Before(f) {
			first[s.controller] = s.start
		}
	}
	var out []time.Duration
	for _, c := range controllers {
		if f, ok := first[c]; ok {
			out = append(out, f.Sub(killed))
		}
	}
	slices.Sort(out)
	return out
}
