package apiserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/component-base/metrics"
)

// TestWithMetrics: /metrics shows the server's own metrics with the
// generic server's; everything else is the generic server's.
func TestWithMetrics(t *testing.T) {
	tests := []struct {
		name, method, path string
		resettable         bool
		wantNext           bool
		wantInBody         []string
		wantCount          float64
	}{
		{name: "metrics", method: http.MethodGet, path: "/metrics", wantCount: 1,
			wantInBody: []string{"wasm_apiserver_test_total 1", "go_goroutines"}},
		{name: "another path", method: http.MethodGet, path: "/healthz", wantNext: true, wantCount: 1},
		{name: "reset", method: http.MethodDelete, path: "/metrics", resettable: true, wantNext: true},
		{name: "reset refused", method: http.MethodDelete, path: "/metrics", wantNext: true, wantCount: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := metrics.NewKubeRegistry()
			counter := metrics.NewCounter(&metrics.CounterOpts{Name: "wasm_apiserver_test_total", Help: "A test.",
				StabilityLevel: metrics.ALPHA})
			reg.MustRegister(counter)
			counter.Inc()
			var reachedNext bool
			next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reachedNext = true })

			rec := httptest.NewRecorder()
			withMetrics(next, reg, tt.resettable).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if reachedNext != tt.wantNext {
				t.Errorf("passed on = %v, want %v", reachedNext, tt.wantNext)
			}
			body, _ := io.ReadAll(rec.Body)
			for _, want := range tt.wantInBody {
				if !strings.Contains(string(body), want) {
					t.Errorf("body lacks %q:\n%.2000s", want, body)
				}
			}
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var got float64
			for _, f := range families {
				for _, m := range f.GetMetric() {
					got += m.GetCounter().GetValue()
				}
			}
			if got != tt.wantCount {
				t.Errorf("counter = %v after the request, want %v", got, tt.wantCount)
			}
		})
	}
}
