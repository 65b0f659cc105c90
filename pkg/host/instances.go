package host

import (
	"context"
	"fmt"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// reconcile runs one reconcile on an idle resident instance, resuming one
// if there is none, and applies the suspend policy afterwards.
func (c *controller) reconcile(ctx context.Context, key wakeKey, reason string) (wasmruntime.Result, error) {
	c.pool.policy.woke(c.env.clock.Now())
	inst, err := c.instance(ctx)
	if err != nil {
		return wasmruntime.Result{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.wc.Spec.Limits.ReconcileTimeout.Duration)
	defer cancel()
	req := wasmruntime.Request{Namespace: key.Namespace, Name: key.Name, Reason: reason}
	// At V(4) every reconcile entry is logged, with the time the guest is
	// called: make bench-system reads it to measure wake latency. Below
	// V(4) nothing is formatted or timed.
	var res wasmruntime.Result
	if trace := c.logger.V(4); trace.Enabled() {
		trace.Info("Reconciling", "key", key.String(), "reason", reason)
		start := time.Now()
		res, err = inst.Reconcile(rctx, req)
		trace.Info("Reconciled", "key", key.String(), "duration", time.Since(start))
	} else {
		res, err = inst.Reconcile(rctx, req)
	}
	c.release(inst)
	return res, err
}

// instance takes an idle resident instance or resumes one.
func (c *controller) instance(ctx context.Context) (*wasmruntime.Instance, error) {
	if inst, ok := c.pool.take(); ok {
		return inst, nil
	}
	return c.resume(ctx)
}

// resume starts an instance of the guest: from its snapshot when it has
// one and no other instance is resident, else afresh.
func (c *controller) resume(ctx context.Context) (*wasmruntime.Instance, error) {
	cfg := c.instanceCfg
	var inst *wasmruntime.Instance
	if c.snapshotting() && c.pool.count() == 0 {
		inst = c.restoreSnapshot(ctx, cfg)
	}
	if inst == nil {
		start := time.Now()
		var err error
		if inst, err = c.module.Instantiate(ctx, cfg); err != nil {
			return nil, fmt.Errorf("starting guest: %w", err)
		}
		took := time.Since(start)
		c.pool.policy.resumed(took)
		c.env.metrics.resumed("init", took)
	}
	c.pool.add(inst)
	c.residentChanged()
	return inst, nil
}

// release keeps an instance resident after a reconcile or suspends it, as
// the suspend policy says.
func (c *controller) release(inst *wasmruntime.Instance) {
	if inst.Closed() { // trapped, timed out or out of memory
		c.forget(inst)
		return
	}
	warm, until := c.pool.released(c.env.clock.Now())
	if !warm || c.ctx.Err() != nil {
		c.suspend(inst)
		return
	}
	if !c.pool.putIdle(inst) { // a prewarmed instance took the place
		c.suspend(inst)
		return
	}
	if !until.IsZero() {
		c.scheduleSuspendCheck(until)
	}
}

// suspend takes an instance out of memory, writing its snapshot first if
// the controller keeps one: while it runs, or when the server stops.
func (c *controller) suspend(inst *wasmruntime.Instance) {
	if c.snapshotting() && (c.ctx.Err() == nil || c.env.stopping.Load()) {
		c.saveSnapshot(inst)
	}
	inst.Close(context.Background())
	c.forget(inst)
}

// forget drops a closed instance.
func (c *controller) forget(inst *wasmruntime.Instance) {
	c.pool.remove(inst)
	c.residentChanged()
}

// suspendIdleInstances suspends every idle resident instance; instances
// running a reconcile are released by it.
func (c *controller) suspendIdleInstances() {
	for {
		inst, ok := c.pool.take()
		if !ok {
			return
		}
		c.suspend(inst)
	}
}

// prewarm resumes a suspended guest ahead of its next timer.
func (c *controller) prewarm() {
	if c.ctx.Err() != nil || c.pool.count() > 0 {
		return
	}
	inst, err := c.resume(c.ctx)
	if err != nil {
		c.logger.V(2).Info("Prewarming the guest failed; the wake will start it", "error", compactError(err))
		return
	}
	if !c.pool.putIdle(inst) {
		c.suspend(inst)
		return
	}
	if at := c.pool.policy.afterPrewarm(c.env.clock.Now()); !at.IsZero() {
		c.scheduleSuspendCheck(at)
	}
}

// residentChanged reports the phase, Active while an instance is resident
// and Suspended otherwise, and the memory held, with the coalesced status.
func (c *controller) residentChanged() {
	active := c.pool.count() > 0
	memory := c.pool.memoryBytes()
	c.status.update(false, func(s *v1alpha1.WasmControllerStatus) {
		if s.Phase == v1alpha1.PhaseActive || s.Phase == v1alpha1.PhaseSuspended {
			s.Phase = phaseOf(active)
		}
		s.MemoryBytes = memory
	})
}

func phaseOf(active bool) v1alpha1.Phase {
	if active {
		return v1alpha1.PhaseActive
	}
	return v1alpha1.PhaseSuspended
}
