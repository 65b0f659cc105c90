package sdk

import (
	"runtime"
	"sync/atomic"
)

// wakes counts the reconciles the module ran, so that an EventRecorder can
// bound what it sends per reconcile. It is package state because the
// reconcile export is: one module runs one reconcile at a time.
var wakes atomic.Uint64

// currentWake returns the number of the reconcile running or last run.
func currentWake() uint64 {
	return wakes.Load()
}

// goroutineYields is how many times a reconcile yields to the guest's other
// goroutines before it returns to the host.
const goroutineYields = 64

// runGoroutines lets the goroutines the reconcile made runnable run before
// the reconcile returns to the host, which runs none of them between
// reconciles. Each runs until it blocks: a goroutine handing work to
// another (client-go's event broadcaster hands an Event from Eventf to a
// distributing goroutine, and from it to the one sending it to the API) gets
// a turn per hop. A goroutine waiting on a timer or on I/O still waits until
// a later reconcile. A guest with no other goroutine (most SDK guests)
// skips the yields.
func runGoroutines() {
	if runtime.NumGoroutine() <= 1 {
		return
	}
	for range goroutineYields {
		runtime.Gosched()
	}
}
