package host

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// blockingRule is a wake rule that takes as long as the test says, or its
// deadline.
type blockingRule struct {
	started chan struct{}
	release chan struct{}
}

func newBlockingRule() *blockingRule {
	return &blockingRule{started: make(chan struct{}, maxPendingEvents*2), release: make(chan struct{})}
}

func (r *blockingRule) Wakes(ctx context.Context, _ wakerule.Event) (bool, error) {
	r.started <- struct{}{}
	select {
	case <-r.release:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// sleepingRule takes its full deadline on every event, as the slowest rule
// admission lets through may.
type sleepingRule struct{}

func (sleepingRule) Wakes(ctx context.Context, _ wakerule.Event) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, wakerule.EvalTimeout)
	defer cancel()
	<-ctx.Done()
	return false, ctx.Err()
}

// inboxTestFanout is one informer's fanout feeding a controller whose rule
// blocks and one whose rule is quick; the informer's store holds objects
// but it never runs.
func inboxTestFanout(t *testing.T, h *hostServices, objects ...*unstructured.Unstructured) (f *fanout, slow, quick *controller, rule *blockingRule) {
	t.Helper()
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0, cache.Indexers{})
	for _, o := range objects {
		if err := inf.GetStore().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	f = &fanout{inf: inf}
	slow, quick = testController(t, h, "slow"), testController(t, h, "quick")
	rule = newBlockingRule()
	slowWatch := testWatch(t, configMaps, "")
	slowWatch.wakeRule = rule
	for _, s := range []*subscription{
		{c: slow, w: slowWatch, inf: inf},
		{c: quick, w: testWatch(t, configMaps, "object.data.x != oldObject.data.x"), inf: inf},
	} {
		f.add(s)
		s.c.subscriptions = append(s.c.subscriptions, s)
	}
	return f, slow, quick, rule
}

// TestInbox_SlowRuleDelaysOnlyItsController: a rule that runs over its
// budget on the informer's goroutine is stopped and run again off it;
// while it runs, the informer goes on, and another controller's rule on
// the same informer wakes it.
func TestInbox_SlowRuleDelaysOnlyItsController(t *testing.T) {
	h := newTestServices(testServices{})
	f, slow, quick, rule := inboxTestFanout(t, h)
	defer close(rule.release)

	delivered := make(chan struct{})
	go func() {
		for i := range 3 {
			f.OnUpdate(configMap("cm", nil, map[string]any{"x": fmt.Sprint(i)}), configMap("cm", nil, map[string]any{"x": fmt.Sprint(i + 1)}))
		}
		close(delivered)
	}()
	<-rule.started // on the informer's goroutine, stopped after the budget
	<-rule.started // off it
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("the informer waited for a slow rule of another controller")
	}
	waitFor(t, "the quick controller's rules", quick.idle)
	if got := queued(quick); !cmp.Equal(got, []string{"ns/cm"}) {
		t.Errorf("quick: woken for %v, want [ns/cm]", got)
	}
	if slow.idle() {
		t.Error("the slow controller's rule is running, yet it reports idle")
	}
}

// TestInbox_Overflow: a controller whose rules fall maxPendingEvents behind
// drops its backlog and wakes every cached key once instead, with an
// Event; the informer never waits for it.
func TestInbox_Overflow(t *testing.T) {
	recorder := record.NewFakeRecorder(10)
	h := newTestServices(testServices{recorder: recorder})
	f, slow, _, rule := inboxTestFanout(t, h, configMap("a", nil, nil), configMap("b", nil, nil))

	old, obj := configMap("cm", nil, map[string]any{"x": "1"}), configMap("cm", nil, map[string]any{"x": "2"})
	f.OnUpdate(old, obj)
	<-rule.started // over budget on the informer's goroutine
	<-rule.started // the first event's rule blocks the slow controller
	for range maxPendingEvents + 10 {
		f.OnUpdate(old, obj) // never waits
	}
	close(rule.release)
	waitFor(t, "the slow controller to catch up", slow.idle)
	if n := len(rule.started); n > 1 {
		t.Errorf("%d dropped events were evaluated after the overflow", n)
	}
	got := queued(slow)
	if len(got) > 1 {
		slices.Sort(got[1:]) // the cache's order
	}
	if want := []string{"ns/cm", "ns/a", "ns/b"}; !cmp.Equal(got, want) {
		t.Errorf("woken for %v, want the first event's key, then every cached key: %v", got, want)
	}
	select {
	case e := <-recorder.Events:
		if !strings.Contains(e, ReasonWakeRulesBehind) {
			t.Errorf("event %q, want reason %s", e, ReasonWakeRulesBehind)
		}
	default:
		t.Errorf("no %s Event", ReasonWakeRulesBehind)
	}
}

// TestInbox_StopDropsBacklog: stopping a controller whose rule runs ends
// its inbox's goroutine once the rule returns, without evaluating the
// backlog.
func TestInbox_StopDropsBacklog(t *testing.T) {
	h := newTestServices(testServices{})
	f, slow, _, rule := inboxTestFanout(t, h)
	for i := range 10 {
		f.OnUpdate(configMap("cm", nil, map[string]any{"x": fmt.Sprint(i)}), configMap("cm", nil, map[string]any{"x": fmt.Sprint(i + 1)}))
	}
	<-rule.started
	<-rule.started
	slow.closeInbox()
	close(rule.release)
	waitFor(t, "the inbox's goroutine to end", slow.idle)
	if n := len(rule.started); n != 0 {
		t.Errorf("%d events evaluated after the controller stopped", n)
	}
	f.OnUpdate(configMap("cm", nil, map[string]any{"x": "1"}), configMap("cm", nil, map[string]any{"x": "2"}))
	if !slow.idle() {
		t.Error("a stopped controller took an event")
	}
}

// waitIdle waits until the controllers' rules have seen every event.
func waitIdle(cs []*controller) {
	for _, c := range cs {
		for !c.idle() {
			runtime.Gosched()
		}
	}
}

// BenchmarkDispatch_SlowNeighbour is the latency of one event to 100
// controllers watching its resource, until every one has its key queued,
// with and without a 101st controller whose rule takes its full deadline
// on every event.
func BenchmarkDispatch_SlowNeighbour(b *testing.B) {
	const controllers = 100
	for _, neighbour := range []string{"none", "slow"} {
		b.Run("neighbour="+neighbour, func(b *testing.B) {
			h := newTestServices(testServices{recorder: record.NewFakeRecorder(1000)})
			f := &fanout{}
			var quick []*controller
			for i := range controllers {
				c := testController(b, h, fmt.Sprint("c", i))
				quick = append(quick, c)
				f.add(&subscription{c: c, w: testWatch(b, configMaps, "object.data.x != oldObject.data.x")})
			}
			if neighbour == "slow" {
				w := testWatch(b, configMaps, "")
				w.wakeRule = sleepingRule{}
				slow := testController(b, h, "slow")
				f.add(&subscription{c: slow, w: w})
				b.Cleanup(slow.closeInbox)
			}
			old, obj := configMap("cm", nil, map[string]any{"x": "1"}), configMap("cm", nil, map[string]any{"x": "2"})
			b.ReportAllocs()
			for b.Loop() {
				f.OnUpdate(old, obj)
				for _, c := range quick {
					for c.queue.len() == 0 {
						runtime.Gosched()
					}
					k, _ := c.queue.get()
					c.queue.done(k)
				}
			}
		})
	}
}

// uninterruptibleRule takes its time and returns, as a CEL rule without a
// loop does whatever its deadline: it never sees the deadline.
type uninterruptibleRule struct{ took time.Duration }

func (r uninterruptibleRule) Wakes(context.Context, wakerule.Event) (bool, error) {
	time.Sleep(r.took)
	return true, nil
}

// TestInbox_SlowRuleThatEndsAlone: a rule that runs over its budget and
// ends without error still moves its controller's rules off the informer's
// goroutine; its answer counts.
func TestInbox_SlowRuleThatEndsAlone(t *testing.T) {
	c := testController(t, newTestServices(testServices{}), "slow")
	w := testWatch(t, configMaps, "")
	w.wakeRule = uninterruptibleRule{took: 2 * inlineRuleBudget}
	c.deliver(w, newEvent("ADDED", configMap("cm", nil, nil), nil))
	if !c.inbox.offPath.Load() {
		t.Error("a rule that took twice its budget left its controller's rules on the informer's goroutine")
	}
	waitFor(t, "the rule's answer", func() bool { return c.queue.len() == 1 })
	if got := queued(c); !cmp.Equal(got, []string{"ns/cm"}) {
		t.Errorf("woken for %v, want [ns/cm]", got)
	}
}

// blockingEnqueue is an enqueue rule that answers once released.
type blockingEnqueue struct{ release chan struct{} }

func (r blockingEnqueue) Keys(ctx context.Context, ev wakerule.Event) ([]string, error) {
	select {
	case <-r.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []string{"ns/owner"}, nil
}

// TestController_ResyncOffTheTimerGoroutine: a resync's enqueue rules run
// on the controller's inbox goroutine, so a slow one holds up no other
// controller's timers (the timer queue calls resync on its one goroutine).
func TestController_ResyncOffTheTimerGoroutine(t *testing.T) {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0, cache.Indexers{})
	if err := inf.GetStore().Add(configMap("child", nil, nil)); err != nil {
		t.Fatal(err)
	}
	c := testController(t, newTestServices(testServices{}), "resync")
	rule := blockingEnqueue{release: make(chan struct{})}
	w := testWatch(t, configMaps, "")
	w.enqueueRule = rule
	c.subscriptions = append(c.subscriptions, &subscription{c: c, w: w, inf: inf})
	returned := make(chan struct{})
	go func() {
		c.resync()
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("resync waited for the controller's enqueue rule on the timer goroutine")
	}
	close(rule.release)
	waitFor(t, "the resync's keys", c.idle)
	if got := queued(c); !cmp.Equal(got, []string{"ns/owner"}) {
		t.Errorf("resync woke %v, want [ns/owner]", got)
	}
}
