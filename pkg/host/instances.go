package host

import (
	"context"
	"fmt"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// reconcileInTurn runs one reconcile of key in turn t (turn.go): on the
// instance t kept from its last key, else on an idle resident instance,
// resuming one if there is none. t keeps the instance; the suspend policy
// applies when the turn ends.
func (c *controller) reconcileInTurn(ctx context.Context, t *turn, key wakeKey, reason string) (wasmruntime.Result, error) {
	c.pool.policy.woke(c.env.clock.Now())
	inst, err := t.instance(ctx, c.pool)
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
	t.keep(c.pool, inst)
	return res, err
}

// acquire takes an idle resident instance or resumes one. With no idle
// instance while one is away being compacted or suspended, it waits for
// that one, to run on it or restore the snapshot it writes, rather than
// start another: that would not restore the snapshot, an instance being
// resident, and would lose the guest's state. The guest's part of a
// compaction has a deadline of a second (wasmruntime.Instance.Compact),
// less than a reconcile may take.
func (p *instancePool) acquire(ctx context.Context) (*wasmruntime.Instance, error) {
	for {
		inst, away := p.takeOrWait(false)
		if inst != nil {
			return inst, nil
		}
		if away == nil {
			return p.resume(ctx)
		}
		select {
		case <-away:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the guest's idle instance: %w", context.Cause(ctx))
		case <-p.ctx.Done():
			return nil, fmt.Errorf("waiting for the guest's idle instance: %w", context.Cause(p.ctx))
		}
	}
}

// resume starts an instance of the guest: from its snapshot when it has
// one and no other instance is resident, else afresh.
func (p *instancePool) resume(ctx context.Context) (*wasmruntime.Instance, error) {
	cfg := p.cfg
	var inst *wasmruntime.Instance
	if p.snapshotting() && p.count() == 0 {
		inst = p.restoreSnapshot(ctx, cfg)
	}
	if inst == nil {
		start := time.Now()
		var err error
		if inst, err = p.module.Instantiate(ctx, cfg); err != nil {
			return nil, fmt.Errorf("starting guest: %w", err)
		}
		took := time.Since(start)
		p.policy.resumed(took)
		from := "init"
		if inst.FromTemplate() {
			from = "template"
		}
		p.env.metrics.resumed(from, took)
	}
	p.add(inst)
	p.residentChanged()
	return inst, nil
}

// release keeps an instance resident after its turn's reconciles or
// suspends it, as the suspend policy says.
func (p *instancePool) release(inst *wasmruntime.Instance) {
	if inst.Closed() { // trapped, timed out or out of memory
		p.forget(inst)
		return
	}
	// Until it is idle or suspended, reconciles running side by side that
	// find no idle instance wait for it, and for its snapshot, rather than
	// start the guest afresh beside it.
	p.goAway()
	defer p.back()
	now := p.env.clock.Now()
	warm, until := p.released(now)
	if !warm || p.ctx.Err() != nil || !p.putIdle(inst) { // or a prewarmed instance took the place
		p.suspend(inst)
		return
	}
	if !until.IsZero() {
		p.scheduleSuspendCheck(until)
	}
	p.scheduleCompaction(now.Add(p.env.compactAfter))
}

// suspend takes an instance out of memory, writing its snapshot first if
// the controller keeps one: while it runs, or when the server stops.
func (p *instancePool) suspend(inst *wasmruntime.Instance) {
	if p.snapshotting() && (p.ctx.Err() == nil || p.env.stopping.Load()) {
		p.saveSnapshot(inst)
	}
	inst.Close(context.Background())
	p.forget(inst)
}

// forget drops a closed instance.
func (p *instancePool) forget(inst *wasmruntime.Instance) {
	p.remove(inst)
	p.residentChanged()
}

// suspendIdle suspends every idle resident instance, and waits for those
// away, being compacted (at most the guest's compaction deadline), which
// would otherwise come back idle after it; instances running a reconcile
// are released by it. A wake meanwhile waits for the suspend, and restores
// the snapshot it writes.
func (p *instancePool) suspendIdle() {
	for {
		inst, away := p.takeOrWait(true)
		switch {
		case inst != nil:
			p.suspend(inst)
			p.back()
		case away != nil:
			<-away
		default:
			return
		}
	}
}

// prewarm resumes a suspended guest ahead of its next timer.
func (p *instancePool) prewarm() {
	if p.ctx.Err() != nil || p.count() > 0 {
		return
	}
	inst, err := p.resume(p.ctx)
	if err != nil {
		p.logger.V(2).Info("Prewarming the guest failed; the wake will start it", "error", compactError(err))
		return
	}
	if !p.putIdle(inst) {
		p.suspend(inst)
		return
	}
	if at := p.policy.afterPrewarm(p.env.clock.Now()); !at.IsZero() {
		p.scheduleSuspendCheck(at)
	}
}

// residentChanged reports the phase, Active while an instance is resident
// and Suspended otherwise, and the memory held, with the coalesced status.
func (p *instancePool) residentChanged() {
	active := p.count() > 0
	memory := p.memoryBytes()
	p.status.update(false, func(s *v1alpha1.WasmControllerStatus) {
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
