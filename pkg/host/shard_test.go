package host

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

// runLog records, per key, the replicas running its controller, and every
// moment two ran it at once.
type runLog struct {
	mu      sync.Mutex
	running map[string][]string
	overlap []string
	starts  map[string]int
}

func (l *runLog) start(key, replica string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.running[key]) > 0 {
		l.overlap = append(l.overlap, fmt.Sprintf("%s started on %s while %v run it", key, replica, l.running[key]))
	}
	l.running[key] = append(l.running[key], replica)
	l.starts[replica]++
}

func (l *runLog) stop(key, replica string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[key] = slices.DeleteFunc(l.running[key], func(r string) bool { return r == replica })
}

// owners returns who runs each key, and whether every key runs once.
func (l *runLog) owners(keys []string) (map[string]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for _, k := range keys {
		if len(l.running[k]) != 1 {
			return nil, false
		}
		out[k] = l.running[k][0]
	}
	return out, true
}

// shardedHost is a host of replica id whose loads start a test controller
// that tells log when it starts and stops.
func shardedHost(t *testing.T, leases *kubefake.Clientset, wcs *fake.Clientset, id string, log *runLog) *Host {
	t.Helper()
	h := lifecycleHost(t, nil)
	h.cfg.Controllers = wcs
	s, err := newShard(leases, sharding.Options{Namespace: "wasm-system", Identity: id}, h.fence)
	if err != nil {
		t.Fatal(err)
	}
	h.shard = s
	h.syncKey = func(ctx context.Context, key string) error {
		h.mu.Lock()
		_, running := h.controllers[key]
		h.mu.Unlock()
		if running {
			return nil
		}
		c := testController(t, &h.hostServices, key)
		c.name = key
		log.start(key, id)
		c.done.Go(func() {
			<-c.ctx.Done()
			log.stop(key, id)
		})
		h.mu.Lock()
		h.controllers[key] = c
		h.mu.Unlock()
		return nil
	}
	return h
}

// TestHost_ShardingRunsEachControllerOnce: with two replicas, each runs
// exactly the controllers rendezvous hashing gives it, none runs one the
// other runs at any moment, a replica that stops hands its controllers to
// the other, and a fenced replica stops every controller before anyone
// else may start them; no goroutine is left behind.
func TestHost_ShardingRunsEachControllerOnce(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var keys []string
	wcs := fake.NewSimpleClientset()
	for i := range 20 {
		wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%3), Name: fmt.Sprintf("c-%d", i)}}
		if _, err := wcs.ControllersV1alpha1().WasmControllers(wc.Namespace).Create(t.Context(), wc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, wc.Namespace+"/"+wc.Name)
	}
	leases := kubefake.NewClientset()
	log := &runLog{running: map[string][]string{}, starts: map[string]int{}}
	a := shardedHost(t, leases, wcs, "replica-a", log)
	b := shardedHost(t, leases, wcs, "replica-b", log)
	startHost(t, a)
	startHost(t, b)

	waitOwners := func(what string, want func(key string) string) {
		t.Helper()
		var got map[string]string
		err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
			var ok bool
			if got, ok = log.owners(keys); !ok {
				return false, nil
			}
			for _, k := range keys {
				if got[k] != want(k) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("%s: owners %v, running %v", what, got, log.running)
		}
	}
	both := []string{"replica-a", "replica-b"}
	waitOwners("two replicas", func(k string) string { return sharding.Owner(both, k) })
	if log.starts["replica-a"] == 0 || log.starts["replica-b"] == 0 {
		t.Fatalf("starts %v: want both replicas to run some of 20 controllers", log.starts)
	}
	assertStatusOwner(t, a, "replica-a")

	// A stopping replica hands everything to the other.
	if err := b.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitOwners("after replica-b stopped", func(string) string { return "replica-a" })

	// A fenced replica runs nothing, then joins again and runs all.
	a.fence()
	a.mu.Lock()
	left := len(a.controllers)
	a.mu.Unlock()
	if left != 0 {
		t.Errorf("%d controllers run after the fence, want 0", left)
	}
	if owners, _ := log.owners(keys[:1]); owners != nil {
		t.Errorf("after the fence, %v still run", owners)
	}
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, o := range log.overlap {
		t.Error(o)
	}
}

// assertStatusOwner checks that the status writers of h name owner.
func assertStatusOwner(t *testing.T, h *Host, owner string) {
	t.Helper()
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "x"}}
	if got := h.newStatusWriter(wc).status.Owner; got != owner {
		t.Errorf("status.owner written = %q, want %q", got, owner)
	}
}

// TestHost_FenceWaitsForLoads: a fence cancels a load under way and returns
// only once it ended, stopping the controller it registered on its way out:
// nothing runs once the fence returns.
func TestHost_FenceWaitsForLoads(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	wcs := fake.NewSimpleClientset(&v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "slow"}})
	log := &runLog{running: map[string][]string{}, starts: map[string]int{}}
	h := shardedHost(t, kubefake.NewClientset(), wcs, "replica-a", log)
	register := h.syncKey
	loading, ended := make(chan struct{}), make(chan struct{})
	var first sync.Once
	h.syncKey = func(ctx context.Context, key string) error {
		slow := false
		first.Do(func() { slow = true })
		if !slow {
			return register(ctx, key)
		}
		close(loading)
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond) // a load that ends late, registering what it started
		_ = register(ctx, key)
		close(ended)
		return ctx.Err()
	}
	startHost(t, h)
	select {
	case <-loading:
	case <-time.After(30 * time.Second):
		t.Fatal("the only replica never loaded its controller")
	}
	h.fence()
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the fence returned with the load still running")
	}
	h.mu.Lock()
	left := len(h.controllers)
	h.mu.Unlock()
	if owners, _ := log.owners([]string{"ns/slow"}); left != 0 || owners != nil {
		t.Errorf("after the fence: %d controllers registered, running %v; want none", left, owners)
	}
	if err := h.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
}
