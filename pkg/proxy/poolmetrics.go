package proxy

import (
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/metrics"
)

// cacheSize counts the objects of one informer's cache and their size as
// JSON. It is an event handler of the informer: each object is measured
// once as it arrives, changes or leaves, on the informer's own goroutine,
// so that a scrape reads two numbers instead of walking the cache.
type cacheSize struct {
	objects, bytes atomic.Int64
}

var _ cache.ResourceEventHandler = (*cacheSize)(nil)

// OnAdd implements cache.ResourceEventHandler.
func (c *cacheSize) OnAdd(obj any, _ bool) {
	c.objects.Add(1)
	c.bytes.Add(int64(objectSize(obj)))
}

// OnUpdate implements cache.ResourceEventHandler. The same version of an
// object, as a relist or resync delivers it, is the same size: neither is
// walked then.
func (c *cacheSize) OnUpdate(old, obj any) {
	if sameVersion(old, obj) {
		return
	}
	c.bytes.Add(int64(objectSize(obj) - objectSize(old)))
}

// sameVersion says whether two states of an object have one resourceVersion.
func sameVersion(old, obj any) bool {
	o, ok1 := old.(*unstructured.Unstructured)
	n, ok2 := obj.(*unstructured.Unstructured)
	return ok1 && ok2 && o.GetResourceVersion() != "" && o.GetResourceVersion() == n.GetResourceVersion()
}

// OnDelete implements cache.ResourceEventHandler. An object whose delete
// was missed comes as its last state in the cache, which is what was
// counted.
func (c *cacheSize) OnDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	c.objects.Add(-1)
	c.bytes.Add(-int64(objectSize(obj)))
}

// poolCollector reports an informer pool when metrics are scraped. It holds
// the pool's lock only to list the informers: a scrape never holds up
// Acquire and Release.
type poolCollector struct {
	metrics.BaseStableCollector
	pool                                  *InformerPool
	informers, cachedObjects, cachedBytes *metrics.Desc
}

// Collector returns the collector of the pool's metrics: the informers
// running and the objects each one caches.
func (p *InformerPool) Collector() metrics.StableCollector {
	return &poolCollector{pool: p,
		informers: metrics.NewDesc("wasm_apiserver_informers",
			"Shared informers running for guests, one per resource and scope.", nil, nil, metrics.ALPHA, ""),
		cachedObjects: metrics.NewDesc("wasm_apiserver_cached_objects",
			"Objects held in a shared informer's cache.", []string{"resource", "namespace"}, nil, metrics.ALPHA, ""),
		cachedBytes: metrics.NewDesc("wasm_apiserver_cached_object_bytes",
			"Size of the objects held in a shared informer's cache, as JSON; counted as they arrive.",
			[]string{"resource", "namespace"}, nil, metrics.ALPHA, ""),
	}
}

// DescribeWithStability implements metrics.StableCollector.
func (c *poolCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- c.informers
	ch <- c.cachedObjects
	ch <- c.cachedBytes
}

// CollectWithStability implements metrics.StableCollector.
func (c *poolCollector) CollectWithStability(ch chan<- metrics.Metric) {
	type running struct {
		key  InformerKey
		size *cacheSize
	}
	c.pool.mu.Lock()
	list := make([]running, 0, len(c.pool.informers))
	for key, s := range c.pool.informers {
		list = append(list, running{key: key, size: &s.size})
	}
	c.pool.mu.Unlock()
	for _, r := range list {
		resource := r.key.Resource.GroupResource().String()
		ch <- metrics.NewLazyConstMetric(c.cachedObjects, metrics.GaugeValue, float64(r.size.objects.Load()), resource, r.key.Namespace)
		ch <- metrics.NewLazyConstMetric(c.cachedBytes, metrics.GaugeValue, float64(r.size.bytes.Load()), resource, r.key.Namespace)
	}
	ch <- metrics.NewLazyConstMetric(c.informers, metrics.GaugeValue, float64(len(list)))
}
