package host

import (
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// testServices are what a test sets of the host services it builds; the
// zero value is the real clock, one scheduler worker, a recorder that
// drops Events, no dispatcher and no snapshots.
type testServices struct {
	clock       clock.WithTickerAndDelayedExecution
	recorder    record.EventRecorder
	dispatcher  *dispatcher
	snapshotDir string
	workers     int
}

// newTestServices builds the host services of o from the real parts, for
// tests of controllers that need no Host.
func newTestServices(o testServices) *hostServices {
	s := &hostServices{}
	o.fill(s)
	return s
}

// fill sets s up as o says.
func (o testServices) fill(s *hostServices) {
	if o.clock == nil {
		o.clock = clock.RealClock{}
	}
	if o.recorder == nil {
		o.recorder = &record.FakeRecorder{}
	}
	s.clock, s.recorder, s.dispatcher, s.snapshotRoot = o.clock, o.recorder, o.dispatcher, o.snapshotDir
	s.timers = newTimerQueue(o.clock)
	s.scheduler = newScheduler(max(1, o.workers), o.clock)
}

// newTestHost builds a host of cfg on the services of o, with the
// bookkeeping New makes but no clients: a test sets the parts it replaces
// (mapper, authorizer, informers, fetcher…) on it.
func newTestHost(cfg Config, o testServices) *Host {
	if o.clock == nil && cfg.Clock != nil {
		o.clock = cfg.Clock
	}
	h := &Host{cfg: cfg, controllers: map[string]*controller{}, refused: map[string]struct{}{},
		accessChanged: make(chan struct{}, 1), loads: newLoadGate(cfg.LoadsPerNamespace),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	o.snapshotDir = cfg.SnapshotDir
	o.fill(&h.hostServices)
	h.reclaimer = newReclaimer(h.clock, cfg.CollectGarbage)
	h.syncKey = h.sync
	return h
}
