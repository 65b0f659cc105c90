package host

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
)

// subscription is one watch of one controller, fed by a shared informer.
type subscription struct {
	c   *controller
	w   *watch
	inf cache.SharedIndexInformer
	// required are the label values w's selector requires, and indexed
	// the one the fanout files the subscription under; set by fanout.add.
	required []labelValue
	indexed  labelValue
}

// dispatcher indexes the watches of every controller by the informer that
// feeds them (resource and namespace). Each informer has one event handler,
// which passes an event to the subscriptions of that informer only: an
// event is evaluated against the wake rules of the controllers that watch
// its resource, and an event nobody watches arrives nowhere, since its
// resource has no informer.
type dispatcher struct {
	pool *proxy.InformerPool

	mu      sync.Mutex
	fanouts map[proxy.InformerKey]*fanout
}

func newDispatcher(pool *proxy.InformerPool) *dispatcher {
	return &dispatcher{pool: pool, fanouts: map[proxy.InformerKey]*fanout{}}
}

// fanout is the one handler of one shared informer. Its subscriptions are
// indexed by a label their selector requires, so that an event meets only
// the watches that can select it: a thousand controllers each selecting
// their own objects by label cost a map lookup per event, not a thousand
// selectors.
type fanout struct {
	inf cache.SharedIndexInformer
	reg cache.ResourceEventHandlerRegistration

	// mu is held for reading while an event is delivered, for writing
	// while a subscription is added or removed.
	mu sync.RWMutex
	n  int // subscriptions
	// byLabel holds the subscriptions whose label selector requires a
	// label to equal one value: label key, then value. rest holds the
	// others, which meet every event.
	byLabel map[string]map[string][]*subscription
	rest    []*subscription
	// required counts the subscriptions that require each label value.
	required map[labelValue]int
}

// labelValue is a label with one value.
type labelValue struct{ key, value string }

// requiredLabels returns the labels, each with its one value, that every
// object passing sel has: those of its equality requirements.
func requiredLabels(sel labels.Selector) []labelValue {
	reqs, selectable := sel.Requirements()
	if !selectable {
		return nil
	}
	var out []labelValue
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			if vs := r.Values(); vs.Len() == 1 {
				out = append(out, labelValue{r.Key(), vs.UnsortedList()[0]})
			}
		}
	}
	return out
}

// subscribe feeds w's events to c, through the informer's one fanout.
// Joining a running informer replays nothing: the controller wakes every
// cached key once it has synced (controller.wakeAll).
func (d *dispatcher) subscribe(c *controller, w *watch) (*subscription, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, joined := d.fanouts[w.key]; joined {
		s := &subscription{c: c, w: w, inf: f.inf}
		f.add(s)
		return s, nil
	}
	f := &fanout{inf: d.pool.Acquire(w.key)}
	s := &subscription{c: c, w: w, inf: f.inf}
	f.add(s)
	reg, err := f.inf.AddEventHandler(f)
	if err != nil {
		d.pool.Release(w.key)
		return nil, err
	}
	f.reg = reg
	d.fanouts[w.key] = f
	return s, nil
}

// unsubscribe stops feeding s; the informer stops with its last subscriber.
func (d *dispatcher) unsubscribe(s *subscription) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.fanouts[s.w.key]
	if f == nil || !f.remove(s) {
		return
	}
	if f.len() > 0 {
		return
	}
	_ = f.inf.RemoveEventHandler(f.reg)
	delete(d.fanouts, s.w.key)
	d.pool.Release(s.w.key)
}

// add and remove are called with dispatcher.mu held.
func (f *fanout) add(s *subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	s.required = requiredLabels(s.w.labels)
	if len(s.required) == 0 {
		f.rest = append(f.rest, s)
		return
	}
	if f.required == nil {
		f.required = map[labelValue]int{}
		f.byLabel = map[string]map[string][]*subscription{}
	}
	for _, lv := range s.required {
		f.required[lv]++
	}
	// Under the label the fewest subscriptions so far require:
	// "app=web,shard=3" goes under shard=3 when others require app=web.
	s.indexed = slices.MinFunc(s.required, func(a, b labelValue) int { return f.required[a] - f.required[b] })
	byValue := f.byLabel[s.indexed.key]
	if byValue == nil {
		byValue = map[string][]*subscription{}
		f.byLabel[s.indexed.key] = byValue
	}
	byValue[s.indexed.value] = append(byValue[s.indexed.value], s)
}

func (f *fanout) remove(s *subscription) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(s.required) == 0 {
		i := slices.Index(f.rest, s)
		if i < 0 {
			return false
		}
		f.rest = slices.Delete(f.rest, i, i+1)
		f.n--
		return true
	}
	byValue := f.byLabel[s.indexed.key]
	i := slices.Index(byValue[s.indexed.value], s)
	if i < 0 {
		return false
	}
	if byValue[s.indexed.value] = slices.Delete(byValue[s.indexed.value], i, i+1); len(byValue[s.indexed.value]) == 0 {
		delete(byValue, s.indexed.value)
		if len(byValue) == 0 {
			delete(f.byLabel, s.indexed.key)
		}
	}
	for _, lv := range s.required {
		if f.required[lv]--; f.required[lv] == 0 {
			delete(f.required, lv)
		}
	}
	f.n--
	return true
}

// len is the number of subscriptions.
func (f *fanout) len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.n
}

// deliver passes one event to the subscriptions of the informer whose
// selectors it can pass, through the object's labels or its old state's.
func (f *fanout) deliver(typ string, obj, old any) {
	u, ok := asUnstructured(obj)
	if !ok {
		return
	}
	var oldU *unstructured.Unstructured
	if old != nil {
		oldU, _ = asUnstructured(old)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := newEvent(typ, u, oldU)
	for _, s := range f.rest {
		s.c.deliver(s.w, e)
	}
	if len(f.byLabel) == 0 {
		return
	}
	e.readLabels()
	for key, byValue := range f.byLabel {
		v, has := e.objLabels[key]
		if has {
			for _, s := range byValue[v] {
				s.c.deliver(s.w, e)
			}
		}
		if e.old == nil {
			continue
		}
		// Each subscription is under one value: the old state's, when the
		// object's differs, reaches subscriptions not met yet.
		if ov, oldHas := e.oldLabels[key]; oldHas && (!has || ov != v) {
			for _, s := range byValue[ov] {
				s.c.deliver(s.w, e)
			}
		}
	}
}

// OnAdd, OnUpdate and OnDelete make fanout a cache.ResourceEventHandler.
// An object of the informer's initial list (or of its cache, handed to a
// handler added late) is not a creation, and is not passed to wake rules:
// a controller wakes every key of its synced caches once when it starts
// (controller.wakeAll), so wake rules see only what happens while the host
// watches. Objects a relist after a watch gap finds new, changed or gone
// arrive as ADDED, MODIFIED and DELETED.
func (f *fanout) OnAdd(obj any, initialList bool) {
	if !initialList {
		f.deliver("ADDED", obj, nil)
	}
}
func (f *fanout) OnUpdate(old, obj any) { f.deliver("MODIFIED", obj, old) }
func (f *fanout) OnDelete(obj any)      { f.deliver("DELETED", obj, nil) }
