package host

import (
	"testing"

	"k8s.io/component-base/metrics/legacyregistry"
)

// TestForgetMetrics: a deleted controller's series leave /metrics, and
// other controllers' stay.
func TestForgetMetrics(t *testing.T) {
	gone, kept := newRuleCounters("ns/gone"), newRuleCounters("ns/kept")
	gone.wake.Inc()
	kept.wake.Inc()
	wakesTotal.WithLabelValues("ns/gone", "event").Inc()
	forgetMetrics("ns/gone")

	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" {
					found[f.GetName()+" "+l.GetValue()] = true
				}
			}
		}
	}
	for _, series := range []string{"wasm_apiserver_wakes_total ns/gone", "wasm_apiserver_wake_rule_evaluations_total ns/gone"} {
		if found[series] {
			t.Errorf("%s is still exported after the controller was forgotten", series)
		}
	}
	if !found["wasm_apiserver_wake_rule_evaluations_total ns/kept"] {
		t.Error("another controller's series went too")
	}
}
