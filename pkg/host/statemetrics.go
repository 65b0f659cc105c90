package host

import (
	"k8s.io/component-base/metrics"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
)

// hostState is what the host holds at one moment, for metrics.
type hostState struct {
	// guestsActive and guestsSuspended are the loaded controllers with a
	// guest instance in memory and without one.
	guestsActive, guestsSuspended int
	// runningGuests are the reconciles running.
	runningGuests int
	// pendingTimers are the resyncs, requeues and retries waiting.
	pendingTimers int
}

// state reads what the host holds now: the controllers it runs, under its
// lock, and the scheduler's and timers' counts. It is cheap: a scrape
// calls it.
func (h *Host) state() hostState {
	var s hostState
	h.mu.Lock()
	for _, c := range h.controllers {
		if c.pool.count() > 0 {
			s.guestsActive++
		} else {
			s.guestsSuspended++
		}
	}
	h.mu.Unlock()
	s.runningGuests = h.scheduler.runningCount()
	s.pendingTimers = h.timers.len()
	return s
}

// stateCollector reports the host's state when metrics are scraped, so
// that no gauge is kept by hand as controllers come, go, wake and sleep.
type stateCollector struct {
	metrics.BaseStableCollector
	state                                           func() hostState
	runningGuests, active, suspended, pendingTimers *metrics.Desc
}

func newStateCollector(state func() hostState) *stateCollector {
	gauge := func(name, help string) *metrics.Desc {
		return metrics.NewDesc("wasm_apiserver_"+name, help, nil, nil, metrics.ALPHA, "")
	}
	return &stateCollector{state: state,
		runningGuests: gauge("running_guests", "Reconciles running now, across every controller; at most --max-running-guests."),
		active:        gauge("guests_active", "Loaded controllers with a guest instance resident in memory."),
		suspended:     gauge("guests_suspended", "Loaded controllers with no guest instance in memory, waiting for their next wake."),
		pendingTimers: gauge("pending_timers", "Host-side timers (resyncs, requeues, retries) waiting to fire."),
	}
}

// DescribeWithStability implements metrics.StableCollector.
func (c *stateCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- c.runningGuests
	ch <- c.active
	ch <- c.suspended
	ch <- c.pendingTimers
}

// CollectWithStability implements metrics.StableCollector.
func (c *stateCollector) CollectWithStability(ch chan<- metrics.Metric) {
	s := c.state()
	ch <- metrics.NewLazyConstMetric(c.runningGuests, metrics.GaugeValue, float64(s.runningGuests))
	ch <- metrics.NewLazyConstMetric(c.active, metrics.GaugeValue, float64(s.guestsActive))
	ch <- metrics.NewLazyConstMetric(c.suspended, metrics.GaugeValue, float64(s.guestsSuspended))
	ch <- metrics.NewLazyConstMetric(c.pendingTimers, metrics.GaugeValue, float64(s.pendingTimers))
}

// registerMetrics registers on reg the host's metrics and those of the
// parts it runs: the guests' caches and requests, and the module store;
// it returns the counters of module fetches, for the fetcher. A nil reg is
// a registry of the host's own, which nobody serves.
func (h *Host) registerMetrics(reg metrics.KubeRegistry) (*modules.Metrics, error) {
	if reg == nil {
		reg = metrics.NewKubeRegistry()
	}
	var err error
	if h.metrics, err = newHostMetrics(reg); err != nil {
		return nil, err
	}
	if err := reg.CustomRegister(newStateCollector(h.state)); err != nil {
		return nil, err
	}
	if h.guestRequests, err = proxy.NewMetrics(reg); err != nil {
		return nil, err
	}
	if h.informers != nil {
		if err := reg.CustomRegister(h.informers.Collector()); err != nil {
			return nil, err
		}
	}
	if err := reg.CustomRegister(h.cfg.Modules.Store.Collector()); err != nil {
		return nil, err
	}
	return modules.NewMetrics(reg)
}
