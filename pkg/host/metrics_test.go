package host

import (
	"strings"
	"testing"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
)

// TestForgetMetrics: a deleted controller's series leave /metrics, and
// other controllers' stay.
func TestForgetMetrics(t *testing.T) {
	reg := metrics.NewKubeRegistry()
	m, err := newHostMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	gone, kept := m.ruleCounters("ns/gone"), m.ruleCounters("ns/kept")
	gone.wake.Inc()
	kept.wake.Inc()
	m.woke("ns/gone", "event")
	m.forget("ns/gone")

	families, err := reg.Gather()
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

// TestHost_MetricsOfItsOwn: two hosts in one process each report their own
// guests and wakes on their own registry; the guest gauges are read from
// the controllers each host runs.
func TestHost_MetricsOfItsOwn(t *testing.T) {
	newHost := func(reg metrics.KubeRegistry) *Host {
		store, err := modules.OpenStore(t.TempDir(), 0)
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Config{Modules: modules.FetcherConfig{Store: store}, Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// loaded returns a loaded controller, with a guest in memory if active.
	loaded := func(active bool) *controller {
		c := &controller{}
		c.pool = newInstancePool(c, nil, 1, neverSuspend{})
		if active {
			c.pool.resident[nil] = 0 // counts as a guest in memory
		}
		return c
	}
	regA, regB := metrics.NewKubeRegistry(), metrics.NewKubeRegistry()
	a, b := newHost(regA), newHost(regB)
	a.controllers["ns/one"], a.controllers["ns/two"] = loaded(false), loaded(false)
	b.controllers["ns/three"] = loaded(true)
	a.metrics.woke("ns/one", "event")
	a.timers.schedule(timerID{owner: "ns/one", kind: timerResync}, time.Now().Add(time.Hour), func() {})

	tests := []struct {
		name string
		reg  metrics.KubeRegistry
		want string
	}{
		{name: "first host", reg: regA, want: `
# HELP wasm_apiserver_guests_active [ALPHA] Loaded controllers with a guest instance resident in memory.
# TYPE wasm_apiserver_guests_active gauge
wasm_apiserver_guests_active 0
# HELP wasm_apiserver_guests_suspended [ALPHA] Loaded controllers with no guest instance in memory, waiting for their next wake.
# TYPE wasm_apiserver_guests_suspended gauge
wasm_apiserver_guests_suspended 2
# HELP wasm_apiserver_pending_timers [ALPHA] Host-side timers (resyncs, requeues, retries) waiting to fire.
# TYPE wasm_apiserver_pending_timers gauge
wasm_apiserver_pending_timers 1
# HELP wasm_apiserver_wakes_total [ALPHA] Reconciles run, by controller and by what woke them: event, resync, requeue or retry.
# TYPE wasm_apiserver_wakes_total counter
wasm_apiserver_wakes_total{controller="ns/one",reason="event"} 1
`},
		{name: "second host", reg: regB, want: `
# HELP wasm_apiserver_guests_active [ALPHA] Loaded controllers with a guest instance resident in memory.
# TYPE wasm_apiserver_guests_active gauge
wasm_apiserver_guests_active 1
# HELP wasm_apiserver_guests_suspended [ALPHA] Loaded controllers with no guest instance in memory, waiting for their next wake.
# TYPE wasm_apiserver_guests_suspended gauge
wasm_apiserver_guests_suspended 0
# HELP wasm_apiserver_pending_timers [ALPHA] Host-side timers (resyncs, requeues, retries) waiting to fire.
# TYPE wasm_apiserver_pending_timers gauge
wasm_apiserver_pending_timers 0
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := testutil.GatherAndCompare(tt.reg, strings.NewReader(tt.want),
				"wasm_apiserver_guests_active", "wasm_apiserver_guests_suspended", "wasm_apiserver_pending_timers",
				"wasm_apiserver_wakes_total"); err != nil {
				t.Error(err)
			}
		})
	}
}
