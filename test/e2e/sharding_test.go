//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

// cuttable is a transport that fails every request once cut, as if the
// replica using it had died or lost the API server.
type cuttable struct {
	next http.RoundTripper
	cut  atomic.Bool
}

func (c *cuttable) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("replica is gone")
	}
	return c.next.RoundTrip(r)
}

// shardMember is one Membership with a host that owns nothing but
// releases every View, as the real host does once it stopped what it lost.
type shardMember struct {
	m      *sharding.Membership
	link   *cuttable
	cancel context.CancelFunc
	// fencedAt is when the member was first fenced.
	fencedAt atomic.Pointer[time.Time]
	wg       sync.WaitGroup
}

func startShardMember(t *testing.T, cfg *rest.Config, namespace, group, id string) *shardMember {
	t.Helper()
	s := &shardMember{}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		s.link = &cuttable{next: rt}
		return s.link
	})
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.m, err = sharding.New(client, sharding.Options{Namespace: namespace, Group: group, Identity: id,
		OnFenced: func() { s.fencedAt.CompareAndSwap(nil, ptr.To(time.Now())) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s.cancel = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.m.Run(ctx)
	}()
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.m.Changes():
				s.m.Released(s.m.View())
			}
		}
	}()
	return s
}

func (s *shardMember) stop() {
	s.cancel()
	s.wg.Wait()
}

// allOwned reports whether every key is owned, by Owns, by exactly the
// member its owner's View assigns it to.
func allOwned(members []*shardMember, keys []string) bool {
	for _, k := range keys {
		owners := 0
		for _, s := range members {
			if s.m.Owns(k) {
				owners++
			}
		}
		if owners != 1 {
			return false
		}
	}
	return true
}

// TestSharding_Failover runs three replicas' Memberships against the real
// API server, cuts one off (it stops renewing its Lease without deleting
// it) and measures how long until the others own its keys.
func TestSharding_Failover(t *testing.T) {
	c := clusterFromEnv(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(cfg)
	const namespace = "wasm-sharding-e2e"
	_, err = admin.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("tenant-%d/controller-%d", i%7, i))
	}

	const tries = 10
	var failovers, margins []time.Duration
	for try := range tries {
		group := fmt.Sprintf("e2e-%d-%d", time.Now().Unix(), try)
		var members []*shardMember
		for i := range 3 {
			members = append(members, startShardMember(t, cfg, namespace, group, fmt.Sprintf("replica-%d", i)))
		}
		eventually(t, 30*time.Second, "three members own every key once", func() (bool, string) {
			return allOwned(members, keys), fmt.Sprintf("members %v", members[0].m.View().Members())
		})

		victim := members[try%3]
		survivors := slices.DeleteFunc(slices.Clone(members), func(s *shardMember) bool { return s == victim })
		// Replicas started together renew in step: cut at a random phase
		// of their renew interval, as a crash would.
		time.Sleep(rand.N(sharding.DefaultRenewInterval))
		victim.link.cut.Store(true)
		cut := time.Now()
		err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return allOwned(survivors, keys), nil
		})
		if err != nil {
			t.Fatalf("try %d: the survivors do not own %s's keys: %v; they see %v", try, victim.m.Identity(), err, survivors[0].m.View().Members())
		}
		moved := time.Now()
		failovers = append(failovers, moved.Sub(cut))
		// The victim must have stopped its controllers (fenced) before
		// the survivors may start them: the margin is the overlap bound.
		fenced := victim.fencedAt.Load()
		if fenced == nil {
			t.Fatalf("try %d: the survivors own %s's keys but it never fenced", try, victim.m.Identity())
		}
		margin := moved.Sub(*fenced)
		margins = append(margins, margin)
		if margin <= 0 {
			t.Errorf("try %d: %s fenced %v after the survivors owned its keys", try, victim.m.Identity(), -margin)
		}
		t.Logf("try %d: %s's keys moved in %v, %v after it fenced", try, victim.m.Identity(),
			failovers[try].Round(time.Millisecond), margin.Round(time.Millisecond))

		for _, s := range members {
			s.stop()
		}
		err = admin.CoordinationV1().Leases(namespace).DeleteCollection(t.Context(), metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: sharding.GroupLabel + "=" + group})
		if err != nil {
			t.Errorf("delete the try's leases: %v", err)
		}
	}

	slices.Sort(failovers)
	p50, p99 := failovers[len(failovers)/2], failovers[len(failovers)-1]
	t.Logf("failover over %d tries: p50 %v, p99 %v (max), min %v", tries,
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), failovers[0].Round(time.Millisecond))
	slices.Sort(margins)
	t.Logf("a cut-off replica stopped its controllers at least %v before the others could start them (no overlap)",
		margins[0].Round(time.Millisecond))
	if p99 > 15*time.Second {
		t.Errorf("failover p99 %v, want ≤ 15 s with the default lease settings", p99)
	}
}
