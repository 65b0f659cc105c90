package modules

import (
	"k8s.io/component-base/metrics"
)

// Metrics count module fetches. A nil *Metrics counts nothing.
type Metrics struct {
	// fetches counts fetches by source and outcome: "store" when the
	// module store held the module, "fetched" when it was downloaded or
	// read, or the Reason of the failure.
	fetches *metrics.CounterVec
}

// NewMetrics returns the fetch counters registered on reg; a nil reg leaves
// them unregistered, counting nothing.
//
// # Errors
//
// When reg already holds metrics of the same names.
func NewMetrics(reg metrics.KubeRegistry) (*Metrics, error) {
	m := &Metrics{fetches: metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "wasm_apiserver",
		Name:           "module_fetches_total",
		Help:           "Module fetches by source (image, url, configMapRef, inline) and outcome: store, fetched, or the failure reason.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"source", "result"})}
	if reg != nil {
		if err := reg.Register(m.fetches); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// fetched counts one fetch from source with its result.
func (m *Metrics) fetched(source, result string) {
	if m != nil {
		m.fetches.WithLabelValues(source, result).Inc()
	}
}

// storeCollector reports a module store when metrics are scraped.
type storeCollector struct {
	metrics.BaseStableCollector
	store          *Store
	bytes, modules *metrics.Desc
}

// Collector returns the collector of the store's metrics: the modules it
// holds and their bytes, read when scraped.
func (s *Store) Collector() metrics.StableCollector {
	return &storeCollector{store: s,
		bytes: metrics.NewDesc("wasm_apiserver_module_store_bytes",
			"Bytes of modules held in the module store.", nil, nil, metrics.ALPHA, ""),
		modules: metrics.NewDesc("wasm_apiserver_module_store_modules",
			"Modules held in the module store.", nil, nil, metrics.ALPHA, ""),
	}
}

// DescribeWithStability implements metrics.StableCollector.
func (c *storeCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- c.bytes
	ch <- c.modules
}

// CollectWithStability implements metrics.StableCollector.
func (c *storeCollector) CollectWithStability(ch chan<- metrics.Metric) {
	size, count := c.store.Size()
	ch <- metrics.NewLazyConstMetric(c.bytes, metrics.GaugeValue, float64(size))
	ch <- metrics.NewLazyConstMetric(c.modules, metrics.GaugeValue, float64(count))
}
