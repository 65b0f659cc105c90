package host

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiwatch "k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// testController is a controller that is never started: what it is woken
// for stays in its queue.
func testController(tb testing.TB, env *hostServices, name string) *controller {
	tb.Helper()
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1}}
	c := newController(env, wc, nil, newStatusWriter(fake.NewSimpleClientset(wc), clock.RealClock{}, wc))
	tb.Cleanup(c.cancel)
	return c
}

// queued drains a controller's queue.
func queued(c *controller) []string {
	var keys []string
	for c.queue.len() > 0 {
		k, _ := c.queue.get()
		c.queue.done(k)
		keys = append(keys, k.String())
	}
	return keys
}

func testWatch(tb testing.TB, gvr schema.GroupVersionResource, wakeWhen string) *watch {
	tb.Helper()
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := compileWatch(0, &v1alpha1.Watch{WakeWhen: wakeWhen}, gvr, true, compiler)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

func TestDispatcher(t *testing.T) {
	cm := func(name, x string) *unstructured.Unstructured {
		return configMap(name, nil, map[string]any{"x": x})
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{configMaps: "ConfigMapList", secrets: "SecretList"}, cm("one", "1"))
	pool := proxy.NewInformerPool(client)
	h := newTestServices(testServices{dispatcher: newDispatcher(pool)})
	every, changes, secretsOnly := testController(t, h, "every"), testController(t, h, "changes"), testController(t, h, "secrets")

	subscribe := func(c *controller, w *watch) *subscription {
		t.Helper()
		s, err := h.dispatcher.subscribe(c, w)
		if err != nil {
			t.Fatal(err)
		}
		if err := proxy.WaitForSync(t.Context(), s.inf, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c.subscriptions = append(c.subscriptions, s)
		return s
	}
	s1 := subscribe(every, testWatch(t, configMaps, ""))
	s2 := subscribe(changes, testWatch(t, configMaps, "eventType == 'MODIFIED' && object.data.x != oldObject.data.x"))
	s3 := subscribe(secretsOnly, testWatch(t, secrets, ""))
	if n := pool.Len(); n != 2 {
		t.Fatalf("informers = %d, want one per resource", n)
	}
	// The informer's initial list is not a stream of creations: it wakes
	// nothing through the rules. Starting, each controller wakes every
	// cached key once, whatever its rules say.
	waitFor(t, "the fanout to have handled the initial list", h.dispatcher.fanouts[s1.w.key].reg.HasSynced)
	for _, c := range []*controller{every, changes, secretsOnly} {
		if got := queued(c); got != nil {
			t.Errorf("%s: the initial list woke %v through the wake rules", c.name, got)
		}
		c.wakeAll()
	}
	if got := queued(every); !cmp.Equal(got, []string{"ns/one"}) {
		t.Errorf("every: start woke %v, want [ns/one]", got)
	}
	if got := queued(changes); !cmp.Equal(got, []string{"ns/one"}) {
		t.Errorf("changes: start woke %v, want [ns/one] though its rule passes only MODIFIED", got)
	}

	update := func(x string) {
		t.Helper()
		if _, err := client.Resource(configMaps).Namespace("ns").Update(t.Context(), cm("one", x), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the update to arrive", func() bool { return every.queue.len() == 1 })
		waitFor(t, "the rules to have run", changes.idle)
	}
	update("1") // x unchanged
	if got, want := queued(every), []string{"ns/one"}; !cmp.Equal(got, want) {
		t.Errorf("every: woken for %v, want %v", got, want)
	}
	if got := queued(changes); got != nil {
		t.Errorf("changes: woken for %v though x did not change", got)
	}
	update("2")
	queued(every)
	if got, want := queued(changes), []string{"ns/one"}; !cmp.Equal(got, want) {
		t.Errorf("changes: woken for %v, want %v", got, want)
	}
	if got := queued(secretsOnly); got != nil {
		t.Errorf("a ConfigMap event reached the Secrets watch: %v", got)
	}

	h.dispatcher.unsubscribe(s1)
	if n := pool.Len(); n != 2 {
		t.Errorf("informers = %d after one of two ConfigMap subscribers left, want 2", n)
	}
	h.dispatcher.unsubscribe(s2)
	h.dispatcher.unsubscribe(s3)
	if n := pool.Len(); n != 0 {
		t.Errorf("informers = %d after every subscriber left, want 0", n)
	}
}

// BenchmarkDispatch is the cost of one event on the host: 1,000
// controllers, of which some watch the event's resource with a wake rule
// that matches. The others watch 99 other resources and cost nothing.
func BenchmarkDispatch(b *testing.B) {
	const controllers = 1000
	for _, watching := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("controllers=%d/watching=%d", controllers, watching), func(b *testing.B) {
			h := newTestServices(testServices{})
			compiler, err := wakerule.NewCompiler(nil)
			if err != nil {
				b.Fatal(err)
			}
			fanouts := map[proxy.InformerKey]*fanout{}
			var woken []*controller
			for i := range controllers {
				gvr := configMaps
				if i >= watching {
					gvr = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: fmt.Sprintf("things%d", i%99)}
				}
				w, err := compileWatch(0, &v1alpha1.Watch{WakeWhen: "object.data.x != oldObject.data.x"}, gvr, true, compiler)
				if err != nil {
					b.Fatal(err)
				}
				f := fanouts[w.key]
				if f == nil {
					f = &fanout{}
					fanouts[w.key] = f
				}
				c := testController(b, h, fmt.Sprint("c", i))
				if i < watching {
					woken = append(woken, c)
				}
				f.add(&subscription{c: c, w: w})
			}
			target := fanouts[proxy.InformerKey{Resource: configMaps}]
			old, obj := configMap("cm", nil, map[string]any{"x": "1"}), configMap("cm", nil, map[string]any{"x": "2"})
			b.ReportAllocs()
			for b.Loop() {
				target.OnUpdate(old, obj)
				waitIdle(woken)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(watching), "ns/rule")
		})
	}
}

// BenchmarkDispatch_LabelSelectors is one event among 1,000 controllers
// that all watch its resource, each with a label selector of its own that
// only one passes, as make bench-system's replicators do: the cost is the
// selectors, the one rule evaluated is small beside them.
func BenchmarkDispatch_LabelSelectors(b *testing.B) {
	const controllers = 1000
	h := newTestServices(testServices{})
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		b.Fatal(err)
	}
	f := &fanout{}
	var woken *controller
	for i := range controllers {
		w, err := compileWatch(0, &v1alpha1.Watch{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"replicate": "true", "set": fmt.Sprint(i)}},
			WakeWhen:      "object.data.x != oldObject.data.x",
		}, configMaps, true, compiler)
		if err != nil {
			b.Fatal(err)
		}
		c := testController(b, h, fmt.Sprint("c", i))
		if i == 0 {
			woken = c
		}
		f.add(&subscription{c: c, w: w})
	}
	lbls := map[string]string{"replicate": "true", "set": "0", "app": "bench", "tier": "config"}
	old, obj := configMap("cm", lbls, map[string]any{"x": "1"}), configMap("cm", lbls, map[string]any{"x": "2"})
	b.ReportAllocs()
	for b.Loop() {
		f.OnUpdate(old, obj)
		waitIdle([]*controller{woken})
	}
	if woken.queue.len() != 1 {
		b.Fatalf("the selected controller has %d keys queued, want 1", woken.queue.len())
	}
}

// BenchmarkFanout_Add is the cost of subscribing 1,000 watches with label
// selectors to one informer, one after the other, as 1,000 controllers
// starting do: each subscription rebuilds the informer's index.
func BenchmarkFanout_Add(b *testing.B) {
	const controllers = 1000
	subs := make([]*subscription, controllers)
	for i := range subs {
		w := testWatch(b, configMaps, "")
		w.labels = labels.SelectorFromSet(labels.Set{"replicate": "true", "set": fmt.Sprint(i)})
		subs[i] = &subscription{w: w}
	}
	b.ReportAllocs()
	for b.Loop() {
		f := &fanout{}
		for _, s := range subs {
			f.add(s)
		}
	}
}

// TestController_Resync: a resync wakes, through the host's timers, each
// key that the cached objects passing the selectors map to through the
// enqueue rule, whatever wakeWhen says; status.nextWakeTime shows when.
func TestController_Resync(t *testing.T) {
	owned := func(name, owner string, labels map[string]string) *unstructured.Unstructured {
		u := configMap(name, labels, nil)
		u.SetOwnerReferences([]metav1.OwnerReference{{Name: owner}})
		return u
	}
	app := map[string]string{"app": "x"}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{configMaps: "ConfigMapList"},
		owned("a", "owner-1", app), owned("b", "owner-1", app), owned("c", "owner-2", app), owned("unlabelled", "owner-3", nil))
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newTestServices(testServices{clock: clock, dispatcher: newDispatcher(proxy.NewInformerPool(client))})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go h.timers.run(ctx)

	c := testController(t, h, "resync")
	c.wc.Spec.ResyncPeriod = &metav1.Duration{Duration: time.Minute}
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := compileWatch(0, &v1alpha1.Watch{
		LabelSelector: &metav1.LabelSelector{MatchLabels: app},
		WakeWhen:      "eventType == 'DELETED'",
		Enqueue:       "object.metadata.namespace + '/' + object.metadata.ownerReferences[0].name",
	}, configMaps, true, compiler)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.dispatcher.subscribe(c, w)
	if err != nil {
		t.Fatal(err)
	}
	c.subscriptions = append(c.subscriptions, s)
	if err := proxy.WaitForSync(t.Context(), s.inf, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := queued(c); got != nil {
		t.Fatalf("the initial ADDED events woke %v through a DELETED-only rule", got)
	}

	start := clock.Now()
	c.scheduleResync()
	next := c.status.nextWake()
	if next == nil || next.Time.Before(start.Add(time.Minute)) || next.Time.After(start.Add(time.Minute+time.Minute/10)) {
		t.Fatalf("nextWakeTime = %v, want a minute from now plus at most 10%% jitter", next)
	}
	clock.Step(time.Minute + time.Minute/10)
	waitFor(t, "the resync", func() bool { return c.queue.len() == 2 })
	if got, want := queued(c), []string{"ns/owner-1", "ns/owner-2"}; !cmp.Equal(got, want, cmpSorted) {
		t.Errorf("resync woke %v, want %v", got, want)
	}
	for _, k := range []string{"owner-1", "owner-2"} {
		if r, _ := c.queue.reasons.Load(wakeKey{"ns", k}); r != "resync" {
			t.Errorf("ns/%s woken for %v, want resync", k, r)
		}
	}
	// The resync re-armed itself.
	waitFor(t, "the next resync to be armed", func() bool {
		n := c.status.nextWake()
		return n != nil && n.Time.After(clock.Now())
	})
}

// TestFanout_LabelIndex: the label index delivers an event to exactly the
// subscriptions whose selectors the object or its old state passes, as
// matching every selector would, for random selectors and events, also as
// subscriptions come and go.
func TestFanout_LabelIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys, values := []string{"a", "b", "c"}, []string{"1", "2", "3"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	randomSelector := func() string {
		var reqs []string
		for range rng.IntN(3) {
			k := pick(keys)
			switch rng.IntN(6) {
			case 0:
				reqs = append(reqs, k+"="+pick(values))
			case 1:
				reqs = append(reqs, k+"=="+pick(values))
			case 2:
				reqs = append(reqs, k+" in ("+pick(values)+")")
			case 3:
				reqs = append(reqs, k+" in ("+pick(values)+","+pick(values)+")")
			case 4:
				reqs = append(reqs, k+"!="+pick(values))
			default:
				reqs = append(reqs, k)
			}
		}
		return strings.Join(reqs, ",")
	}
	randomLabels := func() map[string]string {
		l := map[string]string{}
		for _, k := range keys {
			if rng.IntN(2) == 0 {
				l[k] = pick(values)
			}
		}
		return l
	}

	h := newTestServices(testServices{})
	f := &fanout{}
	var subs []*subscription
	for i := range 60 {
		sel, err := labels.Parse(randomSelector())
		if err != nil {
			t.Fatal(err)
		}
		w := testWatch(t, configMaps, "")
		w.labels = sel
		s := &subscription{c: testController(t, h, fmt.Sprint("c", i)), w: w}
		subs = append(subs, s)
		f.add(s)
	}
	live := slices.Clone(subs)
	for round := range 300 {
		if round%50 == 49 { // one leaves
			i := rng.IntN(len(live))
			if !f.remove(live[i]) {
				t.Fatalf("removing subscription %d failed", i)
			}
			live = slices.Delete(live, i, i+1)
		}
		obj := configMap("cm", randomLabels(), nil)
		var old *unstructured.Unstructured
		typ := "ADDED"
		if rng.IntN(2) == 0 {
			typ, old = "MODIFIED", configMap("cm", randomLabels(), nil)
		}
		if old != nil {
			f.OnUpdate(old, obj)
		} else {
			f.OnAdd(obj, false)
		}
		for _, s := range subs {
			want := slices.Contains(live, s) && (s.w.labels.Matches(labels.Set(obj.GetLabels())) ||
				old != nil && s.w.labels.Matches(labels.Set(old.GetLabels())))
			got := queued(s.c)
			if (len(got) == 1) != want || len(got) > 1 {
				t.Fatalf("round %d, %s %v (old %v), selector %q: woken %v, want woken %v",
					round, typ, obj.GetLabels(), old.GetLabels(), s.w.labels, got, want)
			}
		}
	}
}

// TestFanout_RarestLabel: a subscription is indexed under the label of its
// selector that the fewest others require, so that a label every
// controller requires does not put them all under one value.
func TestFanout_RarestLabel(t *testing.T) {
	f := &fanout{}
	var all []*subscription
	for i := range 3 {
		w := testWatch(t, configMaps, "")
		w.labels = labels.SelectorFromSet(labels.Set{"app": "web", "shard": fmt.Sprint(i)})
		all = append(all, &subscription{w: w})
	}
	w := testWatch(t, configMaps, "")
	w.labels = labels.Everything()
	all = append(all, &subscription{w: w})
	for _, s := range all {
		f.add(s)
	}
	// The first comes when no label is shared yet; from the second on,
	// app=web is.
	if got := len(f.byLabel["shard"]); got < 2 {
		t.Errorf("shard values indexed = %d, want at least 2: %v", got, f.byLabel)
	}
	if len(f.rest) != 1 || f.rest[0] != all[3] {
		t.Errorf("rest = %v, want the subscription with no selector", f.rest)
	}
	for _, s := range all {
		if !f.remove(s) {
			t.Fatalf("remove failed")
		}
	}
	if f.len() != 0 || len(f.byLabel) != 0 || len(f.required) != 0 || len(f.rest) != 0 {
		t.Errorf("after every subscription left: all %d, byLabel %v, required %v, rest %d", f.len(), f.byLabel, f.required, len(f.rest))
	}
}

// TestFanout_RelistAfterWatchGap: when a watch ends and the informer lists
// again, objects deleted or relabelled in the gap reach wake rules as
// DELETED and MODIFIED events, and new ones as ADDED: a controller
// converges without waiting for a resync.
func TestFanout_RelistAfterWatchGap(t *testing.T) {
	app := map[string]string{"app": "x"}
	lists := make(chan *unstructured.UnstructuredList, 2)
	lists <- &unstructured.UnstructuredList{Items: []unstructured.Unstructured{
		*configMap("kept", app, nil), *configMap("deleted", app, nil), *configMap("relabelled", app, nil)}}
	relabelled := configMap("relabelled", map[string]string{"app": "y"}, nil)
	relabelled.SetResourceVersion("3")
	lists <- &unstructured.UnstructuredList{Items: []unstructured.Unstructured{
		*configMap("kept", app, nil), *relabelled, *configMap("new", app, nil)}}
	watches := make(chan *apiwatch.FakeWatcher, 2)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, _ metav1.ListOptions) (runtime.Object, error) {
			select {
			case l := <-lists:
				l.SetResourceVersion(fmt.Sprint(len(lists)))
				return l, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (apiwatch.Interface, error) {
			w := apiwatch.NewFake()
			watches <- w
			return w, nil
		},
	}
	inf := cache.NewSharedIndexInformer(listWatchOnly{lw}, &unstructured.Unstructured{}, 0, cache.Indexers{})

	h := newTestServices(testServices{})
	c := testController(t, h, "gap")
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := compileWatch(0, &v1alpha1.Watch{LabelSelector: &metav1.LabelSelector{MatchLabels: app},
		WakeWhen: "oldObject == null || object.metadata.labels != oldObject.metadata.labels",
		Enqueue:  "eventType + ':' + object.metadata.name"}, configMaps, true, compiler)
	if err != nil {
		t.Fatal(err)
	}
	f := &fanout{inf: inf}
	f.add(&subscription{c: c, w: w, inf: inf})
	reg, err := inf.AddEventHandler(f)
	if err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(t.Context())
	first := <-watches
	waitFor(t, "the initial list to be handled", reg.HasSynced)
	if got := queued(c); got != nil {
		t.Errorf("the initial list woke %v", got)
	}
	// The watch falls too far behind: the informer lists again.
	first.Error(&apierrors.NewResourceExpired("too old resource version").ErrStatus)
	<-watches
	waitFor(t, "the relist's events", func() bool { return c.queue.len() >= 3 })
	got := queued(c)
	slices.Sort(got)
	if want := []string{"ADDED:new", "DELETED:deleted", "MODIFIED:relabelled"}; !cmp.Equal(got, want) {
		t.Errorf("the relist woke %v, want %v", got, want)
	}
}

// listWatchOnly lists and watches; it does not stream lists as watches.
type listWatchOnly struct{ *cache.ListWatch }

func (listWatchOnly) IsWatchListSemanticsUnSupported() bool { return true }
