package proxy

import (
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var guestRequests = metrics.NewCounterVec(&metrics.CounterOpts{
	Namespace:      "wasm_apiserver",
	Name:           "guest_api_requests_total",
	Help:           "API requests made by guests, by controller and by where they were served: cache or apiserver.",
	StabilityLevel: metrics.ALPHA,
}, []string{"controller", "source"})

func init() {
	legacyregistry.MustRegister(guestRequests)
}
