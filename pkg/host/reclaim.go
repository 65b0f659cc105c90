package host

import (
	"context"
	"runtime"
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
type reclaimer struct {
	clock clock.WithTicker
	// collect runs a garbage collection: collectGarbage but in tests.
	collect func()
	// heap returns the bytes of heap objects, live or not yet collected,
	// and the live bytes the last collection found: readHeap but in tests.
	heap func() (objects, live uint64)

	quiet chan struct{}
}

func newReclaimer(c clock.WithTicker) *reclaimer {
	return &reclaimer{clock: c, collect: collectGarbage, heap: readHeap, quiet: make(chan struct{}, 1)}
}

func collectGarbage() { runtime.GC() }

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
// the host is still quiet.
func (r *reclaimer) run(ctx context.Context, idle func() bool) {
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
