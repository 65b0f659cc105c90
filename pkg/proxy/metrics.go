package proxy

import (
	"k8s.io/component-base/metrics"
)

// The sources a guest's request is served from: the label source of
// guest_api_requests_total.
const (
	sourceCache     = "cache"
	sourceAPIServer = "apiserver"
)

// Metrics count the API requests guests make. A nil *Metrics counts
// nothing.
type Metrics struct {
	requests *metrics.CounterVec
}

// NewMetrics returns the request counters registered on reg; a nil reg
// leaves them unregistered, counting nothing.
//
// # Errors
//
// When reg already holds metrics of the same names.
func NewMetrics(reg metrics.KubeRegistry) (*Metrics, error) {
	m := &Metrics{requests: metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "wasm_apiserver",
		Name:           "guest_api_requests_total",
		Help:           "API requests made by guests, by controller and by where they were served: cache or apiserver.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"controller", "source"})}
	if reg != nil {
		if err := reg.Register(m.requests); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// countRequest counts one request of controller, served from source.
func (m *Metrics) countRequest(controller, source string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(controller, source).Inc()
}

// ForgetController drops the request series of a deleted controller.
func (m *Metrics) ForgetController(controller string) {
	if m == nil {
		return
	}
	for _, source := range []string{sourceCache, sourceAPIServer} {
		m.requests.Delete(map[string]string{"controller": controller, "source": source})
	}
}
