package host

import (
	"slices"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
)

// subscription is one watch of one controller, fed by a shared informer.
type subscription struct {
	c   *controller
	w   *watch
	inf cache.SharedIndexInformer
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

// fanout is the one handler of one shared informer.
type fanout struct {
	inf  cache.SharedIndexInformer
	reg  cache.ResourceEventHandlerRegistration
	subs atomic.Pointer[[]*subscription] // copied on write, read per event
}

// subscribe feeds w's events to c. It returns the informer and whether the
// subscription joined one that already had subscribers: those do not replay
// the informer's cache to a new subscriber, so the caller should (replay).
func (d *dispatcher) subscribe(c *controller, w *watch) (*subscription, cache.SharedIndexInformer, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, joined := d.fanouts[w.key]; joined {
		s := &subscription{c: c, w: w, inf: f.inf}
		f.add(s)
		return s, f.inf, true, nil
	}
	f := &fanout{inf: d.pool.Acquire(w.key)}
	s := &subscription{c: c, w: w, inf: f.inf}
	f.add(s) // before the handler, which delivers the cache as ADDED events
	reg, err := f.inf.AddEventHandler(f)
	if err != nil {
		d.pool.Release(w.key)
		return nil, nil, false, err
	}
	f.reg = reg
	d.fanouts[w.key] = f
	return s, f.inf, false, nil
}

// unsubscribe stops feeding s; the informer stops with its last subscriber.
func (d *dispatcher) unsubscribe(s *subscription) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.fanouts[s.w.key]
	if f == nil || !f.remove(s) {
		return
	}
	if len(*f.subs.Load()) > 0 {
		return
	}
	_ = f.inf.RemoveEventHandler(f.reg)
	delete(d.fanouts, s.w.key)
	d.pool.Release(s.w.key)
}

// add and remove are called with dispatcher.mu held.
func (f *fanout) add(s *subscription) {
	var subs []*subscription
	if p := f.subs.Load(); p != nil {
		subs = slices.Clone(*p)
	}
	subs = append(subs, s)
	f.subs.Store(&subs)
}

func (f *fanout) remove(s *subscription) bool {
	p := f.subs.Load()
	if p == nil {
		return false
	}
	i := slices.Index(*p, s)
	if i < 0 {
		return false
	}
	subs := slices.Delete(slices.Clone(*p), i, i+1)
	f.subs.Store(&subs)
	return true
}

// deliver passes one event to every subscription of the informer.
func (f *fanout) deliver(typ string, obj, old any) {
	u, ok := asUnstructured(obj)
	if !ok {
		return
	}
	var oldU *unstructured.Unstructured
	if old != nil {
		oldU, _ = asUnstructured(old)
	}
	e := newEvent(typ, u, oldU)
	for _, s := range *f.subs.Load() {
		s.c.deliver(s.w, e)
	}
}

// OnAdd, OnUpdate and OnDelete make fanout a cache.ResourceEventHandler.
func (f *fanout) OnAdd(obj any, _ bool) { f.deliver("ADDED", obj, nil) }
func (f *fanout) OnUpdate(old, obj any) { f.deliver("MODIFIED", obj, old) }
func (f *fanout) OnDelete(obj any)      { f.deliver("DELETED", obj, nil) }
