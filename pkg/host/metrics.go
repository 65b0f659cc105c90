package host

import (
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	wakesTotal = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "wasm_apiserver",
		Name:           "wakes_total",
		Help:           "Reconciles run, by controller and by what woke them: event, resync, requeue or retry.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"controller", "reason"})

	wakeRuleEvaluations = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "wasm_apiserver",
		Name:      "wake_rule_evaluations_total",
		Help: "Events evaluated against a watch's wake rules, by controller and result: wake, skip (wakeWhen " +
			"returned false) or error (an evaluation error or the cost limit; nothing woken).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"controller", "result"})

	runningGuests = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      "wasm_apiserver",
		Name:           "running_guests",
		Help:           "Reconciles running now, across every controller; at most --max-running-guests.",
		StabilityLevel: metrics.ALPHA,
	})

	pendingTimers = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      "wasm_apiserver",
		Name:           "pending_timers",
		Help:           "Host-side timers (resyncs, requeues, retries) waiting to fire.",
		StabilityLevel: metrics.ALPHA,
	})
)

func init() {
	legacyregistry.MustRegister(wakesTotal, wakeRuleEvaluations, runningGuests, pendingTimers)
}
