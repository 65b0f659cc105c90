package apiserver

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// serveMetrics makes the server's /metrics show reg, wasm-apiserver's own
// metrics, beside the generic API server's, which k8s.io/apiserver keeps in
// the process-wide legacy registry. Every other request, and all of
// /metrics when cfg does not serve metrics, is left to the generic server.
//
// The handler sits inside the server's filters, so /metrics keeps their
// authentication and authorization.
func serveMetrics(cfg *genericapiserver.Config, reg metrics.KubeRegistry) {
	if !cfg.EnableMetrics {
		return
	}
	chain, resettable := cfg.BuildHandlerChainFunc, cfg.EnableProfiling
	cfg.BuildHandlerChainFunc = func(h http.Handler, c *genericapiserver.Config) http.Handler {
		return chain(withMetrics(h, reg, resettable), c)
	}
}

// withMetrics answers GET /metrics from the legacy registry and reg
// together. A DELETE of /metrics goes to next, which resets the legacy
// registry when profiling is on (resettable): reg is reset with it.
// Everything else goes to next.
func withMetrics(next http.Handler, reg metrics.KubeRegistry, resettable bool) http.Handler {
	both := metrics.HandlerFor(prometheus.Gatherers{legacyregistry.DefaultGatherer, reg},
		metrics.HandlerOpts{ErrorHandling: metrics.HTTPErrorOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/metrics":
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			both.ServeHTTP(w, r)
			return
		case r.Method == http.MethodDelete && resettable:
			reg.Reset()
		}
		next.ServeHTTP(w, r)
	})
}
