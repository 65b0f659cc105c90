package host

import (
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/abi"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
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

	guestsActive = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      "wasm_apiserver",
		Name:           "guests_active",
		Help:           "Loaded controllers with a guest instance resident in memory.",
		StabilityLevel: metrics.ALPHA,
	})

	guestsSuspended = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      "wasm_apiserver",
		Name:           "guests_suspended",
		Help:           "Loaded controllers with no guest instance in memory, waiting for their next wake.",
		StabilityLevel: metrics.ALPHA,
	})

	resumeDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace:      "wasm_apiserver",
		Name:           "resume_duration_seconds",
		Help:           "Time to resume a suspended guest, by how: init (a fresh instance runs its initialization) or snapshot (restored).",
		Buckets:        []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		StabilityLevel: metrics.ALPHA,
	}, []string{"from"})

	snapshotDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace:      "wasm_apiserver",
		Name:           "snapshot_duration_seconds",
		Help:           "Time to write a suspended guest's snapshot to the state directory.",
		Buckets:        []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		StabilityLevel: metrics.ALPHA,
	})

	pendingTimers = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      "wasm_apiserver",
		Name:           "pending_timers",
		Help:           "Host-side timers (resyncs, requeues, retries) waiting to fire.",
		StabilityLevel: metrics.ALPHA,
	})
)

// ruleCounters are a controller's wake rule evaluation counters, looked up
// once rather than on every event.
type ruleCounters struct {
	wake, skip, failed metrics.CounterMetric
}

func newRuleCounters(controller string) ruleCounters {
	return ruleCounters{
		wake:   wakeRuleEvaluations.WithLabelValues(controller, "wake"),
		skip:   wakeRuleEvaluations.WithLabelValues(controller, "skip"),
		failed: wakeRuleEvaluations.WithLabelValues(controller, "error"),
	}
}

// forgetMetrics drops the series of a deleted WasmController, so that
// controllers coming and going do not grow /metrics without end.
func forgetMetrics(controller string) {
	for _, reason := range []string{abi.ReasonEvent, abi.ReasonResync, abi.ReasonRequeue, abi.ReasonRetry} {
		wakesTotal.Delete(map[string]string{"controller": controller, "reason": reason})
	}
	for _, result := range []string{"wake", "skip", "error"} {
		wakeRuleEvaluations.Delete(map[string]string{"controller": controller, "result": result})
	}
	proxy.ForgetController(controller)
}

func init() {
	legacyregistry.MustRegister(wakesTotal, wakeRuleEvaluations, runningGuests, guestsActive, guestsSuspended,
		resumeDuration, snapshotDuration, pendingTimers)
}
