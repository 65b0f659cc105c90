package host

import (
	"context"
	"sync"
	"time"
)

const (
	// stopGrace is how much longer than its reconcile timeout stopping a
	// controller waits for a reconcile that ignores being cancelled.
	stopGrace = 2 * time.Second
	// maxStopWait bounds that wait, whatever the reconcile timeout: a
	// controller is stopped by the workers that load every controller, and
	// a guest that does not return must not hold them.
	maxStopWait = 10 * time.Second
)

// stop shuts the controller down: no event, timer or worker reaches it
// afterwards, and its status is written for the last time. It cancels the
// running reconciles and waits for them at most stopWait; one still
// running then is left to end on its own, and its instance, module and
// lease are released when it returns, with nothing reported.
func (c *controller) stop() {
	c.closeInbox()
	for _, s := range c.subscriptions {
		c.env.dispatcher.unsubscribe(s)
	}
	c.env.scheduler.remove(c)
	c.env.timers.cancel(c)
	c.cancel()
	c.queue.shutDown()
	finished := waitAll(c.stopWait(), &c.queue.turns, &c.done)
	c.status.stop() // the context is done: later changes are not written
	c.pool.suspendIdle()
	if finished {
		c.releaseModule()
		return
	}
	c.logger.Info("A reconcile ignored the controller's stop; its instance is closed when it returns", "waited", c.stopWait())
	c.env.lingering.Go(func() {
		c.queue.turns.Wait()
		c.done.Wait()
		c.pool.suspendIdle() // a prewarmed one
		c.releaseModule()
	})
}

// releaseModule gives back the module and its lease once no instance runs.
func (c *controller) releaseModule() {
	if c.pool.module != nil {
		c.pool.module.Release(context.Background())
	}
	c.lease.Release() // nil-safe
}

// stopWait is how long stop waits for running reconciles: the reconcile
// timeout and a grace, at most maxStopWait.
func (c *controller) stopWait() time.Duration {
	wait := stopGrace
	if t := c.wc.Spec.Limits.ReconcileTimeout; t != nil {
		wait += t.Duration
	}
	return min(wait, maxStopWait)
}

// waitAll waits for every group, at most d; it says whether they all
// finished. Its goroutine ends when the groups do. The bound is wall time,
// not the host's injected clock, on purpose: it schedules nothing, it is
// what keeps a stop (and the process's exit) from waiting for ever on a
// guest that ignores its cancellation, and a fake clock that no test steps
// must not turn that bound into a hang.
func waitAll(d time.Duration, groups ...*sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		for _, g := range groups {
			g.Wait()
		}
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
