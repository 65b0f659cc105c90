package modules

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// moduleFetches counts fetches by source and outcome: "store" when the
// module store held the module, "fetched" when it was downloaded or read,
// or the Reason of the failure.
var moduleFetches = metrics.NewCounterVec(&metrics.CounterOpts{
	Namespace:      "wasm_apiserver",
	Name:           "module_fetches_total",
	Help:           "Module fetches by source (image, url, configMapRef, inline) and outcome: store, fetched, or the failure reason.",
	StabilityLevel: metrics.ALPHA,
}, []string{"source", "result"})

var (
	storeBytesDesc = metrics.NewDesc("wasm_apiserver_module_store_bytes",
		"Bytes of modules held in the module store.", nil, nil, metrics.ALPHA, "")
	storeModulesDesc = metrics.NewDesc("wasm_apiserver_module_store_modules",
		"Modules held in the module store.", nil, nil, metrics.ALPHA, "")
)

// stores are the stores the collector reports on.
var stores sync.Map // *Store → struct{}

func init() {
	legacyregistry.MustRegister(moduleFetches)
	legacyregistry.CustomMustRegister(&storeCollector{})
}

// storeCollector reports the module stores when metrics are scraped.
type storeCollector struct {
	metrics.BaseStableCollector
}

func (*storeCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- storeBytesDesc
	ch <- storeModulesDesc
}

func (*storeCollector) CollectWithStability(ch chan<- metrics.Metric) {
	var size int64
	var count int
	stores.Range(func(k, _ any) bool {
		b, n := k.(*Store).Size()
		size, count = size+b, count+n
		return true
	})
	ch <- metrics.NewLazyConstMetric(storeBytesDesc, metrics.GaugeValue, float64(size))
	ch <- metrics.NewLazyConstMetric(storeModulesDesc, metrics.GaugeValue, float64(count))
}
