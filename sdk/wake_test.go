package sdk

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestHandle_RunsGoroutines checks that work a reconcile hands to other
// goroutines, through two hops as client-go's event broadcaster does, is
// done before the reconcile returns: a guest's goroutines get no time
// between reconciles. One processor, as in a guest.
func TestHandle_RunsGoroutines(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	incoming, watcher := make(chan string, 10), make(chan string, 10)
	// An atomic: the race detector sees no order in Gosched.
	var sent atomic.Int32
	go func() { // the distributor
		for e := range incoming {
			watcher <- e
		}
		close(watcher)
	}()
	done := make(chan struct{})
	go func() { // the sink
		for range watcher {
			sent.Add(1)
		}
		close(done)
	}()
	t.Cleanup(func() { close(incoming); <-done; registered = nil })

	Register(ReconcilerFunc(func(context.Context, Request) (Result, error) {
		incoming <- "Synced"
		incoming <- "Scaled"
		return Result{}, nil
	}))
	before := currentWake()
	if _, ok := handle([]byte(`{"namespace":"d","name":"w"}`)); !ok {
		t.Fatal("reconcile failed")
	}
	if got := sent.Load(); got != 2 {
		t.Errorf("%d of 2 Events were sent when the reconcile returned", got)
	}
	if currentWake() != before+1 {
		t.Errorf("the reconcile did not count as a wake")
	}
}
