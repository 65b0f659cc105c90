package runtime

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero"
	"k8s.io/klog/v2"
)

// Why a module's compiled code was evicted, as the evictions metric says.
const (
	evictedOverBudget = "budget" // the compiled-code budget was full
	evictedIdle       = "idle"   // no instance for Config.CompiledIdleUnload
)

// evicted is a module's compiled code taken away by eviction, to be closed
// outside r.mu.
type evicted struct {
	module   *Module
	compiled wazero.CompiledModule
	reason   string
}

// evictLocked takes the compiled code from modules without live instances
// until the resident total fits the budget: first those larger than the
// budget on their own, which can never fit, then the least recently used.
// It never takes keep's, nor a module's with a live instance (in use).
// A module over the budget that is in use is not counted against it: it
// cannot go, and evicting every other module for it would only make them
// reload at each wake while it runs. r.mu must be held; close what it
// returns without it.
func (r *Runtime) evictLocked(keep *Module) []evicted {
	budget := r.cfg.CompiledBudgetBytes
	if budget <= 0 {
		return nil
	}
	for _, m := range r.modules {
		if m.compiled != nil && m.overBudget() && (m == keep || m.live > 0) {
			budget += m.cost
		}
	}
	var out []evicted
	for r.compiledBytes > budget {
		var victim *Module
		for _, m := range r.modules {
			if m == keep || m.compiled == nil || m.live > 0 {
				continue
			}
			if victim == nil || evictBefore(m, victim) {
				victim = m
			}
		}
		if victim == nil {
			break // everything left is in use: over budget until it is not
		}
		out = append(out, r.evictModuleLocked(victim, evictedOverBudget))
		r.dropTemplatesLocked(victim)
	}
	return out
}

// evictModuleLocked takes m's compiled code, with its data segments, for
// the caller to close outside r.mu. Its templates are the caller's to
// keep or drop: a module evicted for the budget's room gives them up
// (evictLocked); one unloaded for being idle keeps them (unloadIfIdle).
// m must have compiled code and no live instance; r.mu must be held.
func (r *Runtime) evictModuleLocked(m *Module, reason string) evicted {
	ev := evicted{m, m.compiled, reason}
	m.compiled, m.init = nil, nil
	r.compiledBytes -= m.cost
	return ev
}

// armIdleUnloadLocked starts m's idle clock, with Config.CompiledIdleUnload:
// m was just used and has no live instance, so it gives up its compiled
// code once it stays so for that long (unloadIfIdle). A later use stops
// nothing: the clock is checked when it runs out. r.mu must be held.
func (r *Runtime) armIdleUnloadLocked(m *Module) {
	idle := r.cfg.CompiledIdleUnload
	if idle <= 0 || m.compiled == nil || m.live > 0 || m.refs <= 0 || r.closed {
		return
	}
	m.idleSince = time.Now()
	if m.idleUnload == nil {
		m.idleUnload = time.AfterFunc(idle, func() { r.unloadIfIdle(m) })
		return
	}
	m.idleUnload.Reset(idle)
}

// unloadIfIdle evicts m's compiled code if no instance of it has lived
// since Config.CompiledIdleUnload ago. An instance started meanwhile keeps
// it; the instance's end starts the clock again (instanceDone). The
// module keeps its templates: files whose pages the kernel reclaims,
// which the template budget lets another module's template replace once
// unused, and which spare the first wakes after the unload the guest's
// init and a capture. It runs on its timer's goroutine, which Close waits
// for once it has begun to unload.
func (r *Runtime) unloadIfIdle(m *Module) {
	r.mu.Lock()
	if r.closed || m.refs <= 0 || m.compiled == nil || m.live > 0 {
		r.mu.Unlock()
		return
	}
	if left := r.cfg.CompiledIdleUnload - time.Since(m.idleSince); left > 0 {
		m.idleUnload.Reset(left)
		r.mu.Unlock()
		return
	}
	ev := r.evictModuleLocked(m, evictedIdle)
	r.unloading.Add(1)
	defer r.unloading.Done()
	r.mu.Unlock()
	r.closeEvicted(context.Background(), []evicted{ev})
	if unloaded := r.cfg.IdleUnloaded; unloaded != nil {
		unloaded()
	}
}

// evictBefore says whether a goes before b: a module over the budget on
// its own before one within it, then the least recently used.
func evictBefore(a, b *Module) bool {
	if ao, bo := a.overBudget(), b.overBudget(); ao != bo {
		return ao
	}
	return a.lastUsed < b.lastUsed
}

func (r *Runtime) closeEvicted(ctx context.Context, ev []evicted) {
	for _, e := range ev {
		closeCompiled(context.WithoutCancel(ctx), e.compiled)
		r.metrics.evicted(e.reason)
		klog.V(2).InfoS("Evicted the compiled code of a module", "digest", e.module.Digest, "estimatedBytes", e.module.cost, "reason", e.reason)
	}
}
