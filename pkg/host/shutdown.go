package host

import (
	"sync"

	"k8s.io/klog/v2"
)

// shutdown stops every controller once the host's context is done, in the
// order that loses the least, each wait bounded by maxStopWait:
//
//  1. No controller loads any more: the loaders end.
//  2. Every controller is cancelled at once, so that in-flight reconciles
//     end together rather than one controller after another.
//  3. The idle guests of controllers that keep snapshots write them, so
//     that a restart restores their memory; so do guests whose reconcile
//     returns in the meantime.
//  4. The scheduler's workers end, then every controller stops, at once,
//     writing its status for the last time.
//  5. Releases of guests that ignored their stop are waited for.
func (h *Host) shutdown(loaders, workers *sync.WaitGroup) {
	h.queue.ShutDown()
	if !waitAll(maxStopWait, loaders) {
		klog.InfoS("WasmControllers still loading; stopping the others", "waited", maxStopWait)
	}
	h.stopping.Store(true)
	h.mu.Lock()
	running := make([]*controller, 0, len(h.controllers))
	for key, c := range h.controllers {
		running = append(running, c)
		delete(h.controllers, key)
	}
	h.mu.Unlock()
	for _, c := range running {
		h.scheduler.remove(c)
		h.timers.cancel(c)
		c.cancel()
	}
	for _, c := range running {
		c.pool.snapshotIdle()
	}
	if !waitAll(maxStopWait, workers) {
		klog.InfoS("Reconciles still run after their cancellation; stopping their controllers", "waited", maxStopWait)
	}
	var stops sync.WaitGroup
	for _, c := range running {
		stops.Go(c.stop)
	}
	stops.Wait()
	if !waitAll(maxStopWait, &h.lingering) {
		klog.InfoS("Guests that ignored their stop still run; leaving them")
	}
	klog.InfoS("Host stopped every WasmController", "stopped", len(running))
}
