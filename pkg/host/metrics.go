package host

import (
	"time"

	"k8s.io/component-base/metrics"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// Results of a wake rule evaluation: the label result of
// wake_rule_evaluations_total.
const (
	ruleWake  = "wake"
	ruleSkip  = "skip"
	ruleError = "error"
)

// durationBuckets are the buckets of resume and snapshot times, in seconds.
func durationBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
}

// hostMetrics are what the host counts and times as it works. What it
// holds now (guests, running reconciles, timers) is read from its state
// when scraped, by a stateCollector. A nil *hostMetrics counts nothing.
type hostMetrics struct {
	wakes           *metrics.CounterVec
	ruleEvaluations *metrics.CounterVec
	resume          *metrics.HistogramVec
	snapshot        *metrics.Histogram
	released        *metrics.CounterVec
}

// newHostMetrics returns the host's counters and histograms registered on
// reg.
func newHostMetrics(reg metrics.KubeRegistry) (*hostMetrics, error) {
	m := &hostMetrics{
		wakes: metrics.NewCounterVec(&metrics.CounterOpts{
			Namespace:      "wasm_apiserver",
			Name:           "wakes_total",
			Help:           "Reconciles run, by controller and by what woke them: event, resync, requeue or retry.",
			StabilityLevel: metrics.ALPHA,
		}, []string{"controller", "reason"}),
		ruleEvaluations: metrics.NewCounterVec(&metrics.CounterOpts{
			Namespace: "wasm_apiserver",
			Name:      "wake_rule_evaluations_total",
			Help: "Events evaluated against a watch's wake rules, by controller and result: wake, skip (wakeWhen " +
				"returned false) or error (an evaluation error or the cost limit; nothing woken).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"controller", "result"}),
		resume: metrics.NewHistogramVec(&metrics.HistogramOpts{
			Namespace:      "wasm_apiserver",
			Name:           "resume_duration_seconds",
			Help:           "Time to resume a suspended guest, by how: init (a fresh instance runs its initialization), template (a fresh instance starts from a copy of its module's initialized memory) or snapshot (restored).",
			Buckets:        durationBuckets(),
			StabilityLevel: metrics.ALPHA,
		}, []string{"from"}),
		snapshot: metrics.NewHistogram(&metrics.HistogramOpts{
			Namespace:      "wasm_apiserver",
			Name:           "snapshot_duration_seconds",
			Help:           "Time to write a suspended guest's snapshot to the state directory.",
			Buckets:        durationBuckets(),
			StabilityLevel: metrics.ALPHA,
		}),
		released: metrics.NewCounterVec(&metrics.CounterOpts{
			Namespace: "wasm_apiserver",
			Name:      "guest_memory_released_bytes_total",
			Help: "Bytes of resident guests' linear memory given back to the OS by compacting them (the guest zeroes its " +
				"free memory, the host gives the zero pages back), by trigger: idle (quiet after reconciles) or snapshot (before one is written).",
			StabilityLevel: metrics.ALPHA,
		}, []string{"trigger"}),
	}
	for _, r := range []metrics.Registerable{m.wakes, m.ruleEvaluations, m.resume, m.snapshot, m.released} {
		if err := reg.Register(r); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// woke counts a reconcile of controller for reason.
func (m *hostMetrics) woke(controller, reason string) {
	if m != nil {
		m.wakes.WithLabelValues(controller, reason).Inc()
	}
}

// resumed times a guest's resume, from "init", "template" or "snapshot".
func (m *hostMetrics) resumed(from string, took time.Duration) {
	if m != nil {
		m.resume.WithLabelValues(from).Observe(took.Seconds())
	}
}

// snapshotted times the write of a snapshot.
func (m *hostMetrics) snapshotted(took time.Duration) {
	if m != nil {
		m.snapshot.Observe(took.Seconds())
	}
}

// compacted counts the bytes a compaction of a guest gave back.
func (m *hostMetrics) compacted(trigger string, released uint64) {
	if m != nil {
		m.released.WithLabelValues(trigger).Add(float64(released))
	}
}

// ruleCounters are a controller's wake rule evaluation counters, looked up
// once rather than on every event.
type ruleCounters struct {
	wake, skip, failed metrics.CounterMetric
}

// ruleCounters returns controller's wake rule evaluation counters.
func (m *hostMetrics) ruleCounters(controller string) ruleCounters {
	if m == nil {
		return ruleCounters{wake: noCount{}, skip: noCount{}, failed: noCount{}}
	}
	return ruleCounters{
		wake:   m.ruleEvaluations.WithLabelValues(controller, ruleWake),
		skip:   m.ruleEvaluations.WithLabelValues(controller, ruleSkip),
		failed: m.ruleEvaluations.WithLabelValues(controller, ruleError),
	}
}

// forget drops the series of a deleted WasmController, so that
// controllers coming and going do not grow /metrics without end.
func (m *hostMetrics) forget(controller string) {
	if m == nil {
		return
	}
	for _, reason := range []string{abi.ReasonEvent, abi.ReasonResync, abi.ReasonRequeue, abi.ReasonRetry} {
		m.wakes.Delete(map[string]string{"controller": controller, "reason": reason})
	}
	for _, result := range []string{ruleWake, ruleSkip, ruleError} {
		m.ruleEvaluations.Delete(map[string]string{"controller": controller, "result": result})
	}
}

// noCount is a counter that counts nothing.
type noCount struct{}

func (noCount) Inc()        {}
func (noCount) Add(float64) {}
