package host

import (
	"context"
	"runtime/metrics"
	"time"

	"k8s.io/utils/clock"
)

const (
	// quietPeriod is how long the host runs no reconcile before it
	// collects the garbage the work before left.
	quietPeriod = 2 * time.Second
	// minReclaimBytes is the least garbage worth a collection. The host
	// collects at most once for each time it falls quiet after work, so
	// work that comes and goes costs at most one collection per wake.
	minReclaimBytes = 4 << 20
)

// reclaimer collects garbage once the host falls quiet. Loading and waking
// guests allocates much and briefly (module bytes, API objects, snapshot
// buffers); when the work stops, nothing allocates, so the Go runtime would
// leave that garbage in place until its periodic collection two minutes
// later, and the process would keep the memory of its busiest moment. One
// collection once the work has stopped lets the runtime give it back.
// (Guests' linear memory is not on the Go heap: it goes back to the OS when
// an instance closes.)
//
// A collection is process-wide, so the reclaimer does not decide to make
// one on its own: it is given collect by whoever owns the process (the
// server passes runtime.GC), and without it does nothing.
type reclaimer struct {
	clock clock.WithTicker
	// collect runs a garbage collection; nil turns the reclaimer off.
	collect func()
	// heap returns the bytes of heap objects, live or not yet collected,
	// and the live bytes the last collection found: readHeap but in tests.
	heap func() (objects, live uint64)

	quiet chan struct{}
}

// newReclaimer returns a reclaimer that runs collect; nil collects nothing.
func newReclaimer(c clock.WithTicker, collect func()) *reclaimer {
	return &reclaimer{clock: c, collect: collect, heap: readHeap, quiet: make(chan struct{}, 1)}
}

// notifyQuiet tells the reclaimer that some work (a load, a reconcile) ended
// and the host may have fallen quiet.
func (r *reclaimer) notifyQuiet() {
	select {
	case r.quiet <- struct{}{}:
	default:
	}
}

// run collects, each time the host falls quiet, once it has stayed quiet
// for quietPeriod, when the heap holds enough garbage. idle says whether
// the host is still quiet. Without collect, it returns at once.
func (r *reclaimer) run(ctx context.Context, idle func() bool) {
	if r.collect == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.quiet:
		}
		t := r.clock.NewTimer(quietPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if !idle() {
			continue // busy again; the end of that work notifies again
		}
		objects, live := r.heap()
		if objects < live+minReclaimBytes {
			continue
		}
		r.collect()
	}
}

// readHeap reads the heap's object bytes and its live bytes at the last
// collection from runtime/metrics; zeros if the runtime does not say.
func readHeap() (objects, live uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0, 0
	}
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}
