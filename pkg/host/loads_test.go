package host

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestHost_LoadsAreFairAcrossNamespaces: a namespace whose loads hang (a
// slow fetch) holds at most its share of the loaders: a load in another
// namespace goes ahead at once, and the slow namespace's keys load in
// order as its loads end.
func TestHost_LoadsAreFairAcrossNamespaces(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	h := newTestHost(Config{Loaders: 3, LoadsPerNamespace: 2, Clock: clock}, testServices{})
	var (
		mu              sync.Mutex
		order           []string
		running, most   int
		slow            = make(chan struct{})
		otherNamespaces = make(chan string, 1)
	)
	h.syncKey = func(_ context.Context, key string) error {
		if namespaceOf(key) != "slow" {
			otherNamespaces <- key
			return nil
		}
		mu.Lock()
		order = append(order, key)
		running++
		most = max(most, running)
		mu.Unlock()
		<-slow
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	var slowKeys []string
	for i := range 6 {
		slowKeys = append(slowKeys, fmt.Sprintf("slow/c%d", i))
		h.queue.Add(slowKeys[i])
	}
	ctx, cancel := context.WithCancel(t.Context())
	var workers sync.WaitGroup
	h.runLoaders(ctx, &workers)
	defer func() {
		cancel()
		h.queue.ShutDown()
		workers.Wait()
	}()
	waitFor(t, "the slow namespace to take its share", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return running == 2
	})

	h.queue.Add("other/c")
	select {
	case key := <-otherNamespaces:
		if key != "other/c" {
			t.Errorf("loaded %s, want other/c", key)
		}
	case <-time.After(5 * time.Second):
		close(slow)
		t.Fatal("a load in another namespace waited for the slow namespace's loads")
	}

	close(slow)
	waitFor(t, "every slow load", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == len(slowKeys) && running == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if most > 2 {
		t.Errorf("%d loads of one namespace ran at once, want at most 2", most)
	}
	slices.Sort(order)
	if diff := cmp.Diff(slowKeys, order); diff != "" {
		t.Errorf("loads of the slow namespace (-want +got):\n%s", diff)
	}
}

// TestLoadGate: a namespace's keys beyond its share wait in order, and
// each load that ends hands its place to the next.
func TestLoadGate(t *testing.T) {
	g := newLoadGate(2)
	for _, step := range []struct {
		admit string
		want  bool
	}{{"a/1", true}, {"a/2", true}, {"a/3", false}, {"b/1", true}, {"a/4", false}, {"b/2", true}} {
		if got := g.admit(step.admit); got != step.want {
			t.Errorf("admit(%s) = %v, want %v", step.admit, got, step.want)
		}
	}
	for _, step := range []struct {
		ended, want string
	}{{"a/2", "a/3"}, {"a/1", "a/4"}, {"a/3", ""}, {"b/1", ""}, {"a/4", ""}, {"b/2", ""}} {
		if got, _ := g.next(step.ended); got != step.want {
			t.Errorf("next(%s) = %q, want %q", step.ended, got, step.want)
		}
	}
	if len(g.running) != 0 || len(g.waiting) != 0 {
		t.Errorf("gate holds %v running, %v waiting after every load ended", g.running, g.waiting)
	}
}
