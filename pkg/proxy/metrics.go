package proxy

import (
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var guestRequests = metrics.NewCounterVec(&metrics.CounterOpts{
	Namespace:      "wasm_apiserver",
	Name:           "guest_api_requests_total",
	Help:           "API requests made by guests, by controller and by where they were served: cache or apiserver.",
	StabilityLevel: metrics.ALPHA,
}, []string{"controller", "source"})

// ForgetController drops the request series of a deleted controller.
func ForgetController(controller string) {
	for _, source := range []string{"cache", "apiserver"} {
		guestRequests.Delete(map[string]string{"controller": controller, "source": source})
	}
}

func init() {
	legacyregistry.MustRegister(guestRequests)
	legacyregistry.CustomMustRegister(&poolCollector{})
}

var (
	informersDesc = metrics.NewDesc("wasm_apiserver_informers",
		"Shared informers running for guests, one per resource and scope.", nil, nil, metrics.ALPHA, "")
	cachedObjectsDesc = metrics.NewDesc("wasm_apiserver_cached_objects",
		"Objects held in a shared informer's cache.", []string{"resource", "namespace"}, nil, metrics.ALPHA, "")
	cachedBytesDesc = metrics.NewDesc("wasm_apiserver_cached_object_bytes",
		"Size of the objects held in a shared informer's cache, as JSON; computed when scraped.",
		[]string{"resource", "namespace"}, nil, metrics.ALPHA, "")
)

// pools are the informer pools the collector reports on.
var pools sync.Map // *InformerPool → struct{}

// poolCollector reports the informer pools when metrics are scraped.
type poolCollector struct {
	metrics.BaseStableCollector
}

func (*poolCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- informersDesc
	ch <- cachedObjectsDesc
	ch <- cachedBytesDesc
}

func (*poolCollector) CollectWithStability(ch chan<- metrics.Metric) {
	running := 0
	pools.Range(func(k, _ any) bool {
		p := k.(*InformerPool)
		p.mu.Lock()
		defer p.mu.Unlock()
		for key, s := range p.informers {
			running++
			objs := s.informer.GetStore().List()
			var size int
			for _, obj := range objs {
				if u, ok := obj.(*unstructured.Unstructured); ok {
					if b, err := json.Marshal(u.Object); err == nil {
						size += len(b)
					}
				}
			}
			resource := key.Resource.GroupResource().String()
			ch <- metrics.NewLazyConstMetric(cachedObjectsDesc, metrics.GaugeValue, float64(len(objs)), resource, key.Namespace)
			ch <- metrics.NewLazyConstMetric(cachedBytesDesc, metrics.GaugeValue, float64(size), resource, key.Namespace)
		}
		return true
	})
	ch <- metrics.NewLazyConstMetric(informersDesc, metrics.GaugeValue, float64(running))
}
