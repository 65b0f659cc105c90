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

// evicted is what eviction took from a module, to be done outside r.mu:
// its compiled code to close, for reason, or, when dropCode is set, the
// resident pages of its code to drop, the module staying loaded
// (dropCodeLocked).
type evicted struct {
	module   *Module
	compiled wazero.CompiledModule
	reason   string
	dropCode bool
	// spares are the module's spares, closed before its code.
	spares []*Instance
}

// evictLocked makes the resident total fit the budget, taking from modules
// without live instances, never from keep's nor from a module in use:
//  1. it closes the compiled code of modules larger than the budget on
//     their own even with their native code dropped, which can never fit
//     (Module.overBudget);
//  2. it drops the resident code of modules whose code can be mapped from
//     a file (codefile.go), least recently used first: they stay loaded,
//     charged only what wazero keeps besides the code (Module.charge), and
//     their next wake maps back what it runs (~2 ms for a small Go guest)
//     instead of reloading the module (~35 ms);
//  3. it closes the compiled code of the least recently used.
//
// With dropOnly set it only drops code: keep is being woken, and what its
// instance charged may be its own code's to give back once the instance
// ends (instanceDone), rather than another module's to close now.
//
// A module larger than the budget that is in use or keep is not counted
// against it: it cannot go, and evicting every other module for it would
// only make them reload at each wake while it runs. Once idle, its native
// code is dropped like any other's, and what it keeps besides may fit.
// r.mu must be held; do what it returns without it (closeEvicted).
func (r *Runtime) evictLocked(keep *Module, dropOnly bool) []evicted {
	budget := r.cfg.CompiledBudgetBytes
	if budget <= 0 {
		return nil
	}
	for _, m := range r.modules {
		if m.compiled != nil && m.cost > r.cfg.CompiledBudgetBytes && (m == keep || m.live > 0) {
			budget += m.charge()
		}
	}
	var out []evicted
	for r.compiledBytes > budget {
		victim, dropCode := r.evictionVictimLocked(keep, dropOnly)
		if victim == nil {
			// Everything left is in use, or with dropOnly has no code
			// to drop: over budget until it is not.
			break
		}
		if dropCode {
			out = append(out, r.dropCodeLocked(victim))
			continue
		}
		out = append(out, r.evictModuleLocked(victim, evictedOverBudget))
		r.dropTemplatesLocked(victim)
	}
	return out
}

// evictionVictimLocked returns the module eviction takes from next, and
// whether it drops its code's resident pages rather than closing it (the
// order of evictLocked), only one whose code it drops when dropOnly is set;
// nil when there is none: every module with compiled code is keep or in
// use. r.mu must be held.
func (r *Runtime) evictionVictimLocked(keep *Module, dropOnly bool) (*Module, bool) {
	var over, drop, lru *Module
	for _, m := range r.modules {
		if m == keep || m.compiled == nil || m.live > 0 {
			continue
		}
		switch {
		case m.overBudget():
			if over == nil || m.lastUsed < over.lastUsed {
				over = m
			}
		case m.codeBytes > 0 && !m.codeDropped:
			if drop == nil || m.lastUsed < drop.lastUsed {
				drop = m
			}
		}
		if lru == nil || m.lastUsed < lru.lastUsed {
			lru = m
		}
	}
	switch {
	case dropOnly:
		return drop, drop != nil
	case over != nil:
		return over, false
	case drop != nil:
		return drop, true
	}
	return lru, false
}

// dropCodeLocked charges m without its code, whose resident pages the
// caller drops outside r.mu (closeEvicted). m must have compiled code
// that can be mapped from a file, not dropped yet, and no live instance;
// r.mu must be held.
func (r *Runtime) dropCodeLocked(m *Module) evicted {
	m.codeDropped = true
	r.compiledBytes -= m.codeBytes
	return evicted{module: m, compiled: m.compiled, dropCode: true}
}

// chargeCodeLocked charges m for its code again, whose pages a use of m
// maps back. r.mu must be held.
func (r *Runtime) chargeCodeLocked(m *Module) {
	if m.codeDropped {
		m.codeDropped = false
		r.compiledBytes += m.codeBytes
	}
}

// evictModuleLocked takes m's compiled code, with its data segments, for
// the caller to close outside r.mu. Its templates are the caller's to
// keep or drop: a module evicted for the budget's room gives them up
// (evictLocked); one unloaded for being idle keeps them (unloadIfIdle).
// m must have compiled code and no live instance; r.mu must be held.
func (r *Runtime) evictModuleLocked(m *Module, reason string) evicted {
	ev := evicted{module: m, compiled: m.compiled, reason: reason, spares: r.takeSparesLocked(m)}
	r.compiledBytes -= m.charge()
	m.compiled, m.init = nil, nil
	m.codeBytes, m.codeDropped = 0, false
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

// unlockEvicting lets r.mu go and does what eviction took, ev
// (closeEvicted): beside the caller when it is a wake that is not to wait
// for it (closeEvictedBesideLocked), else before it returns. r.mu must be
// held.
func (r *Runtime) unlockEvicting(ctx context.Context, ev []evicted, beside bool) {
	beside = beside && r.closeEvictedBesideLocked(ev)
	r.mu.Unlock()
	if !beside {
		r.closeEvicted(ctx, ev)
	}
}

// closeEvictedBesideLocked starts a goroutine that does what eviction took,
// ev (closeEvicted), for a wake that is not to wait for it: dropping a
// module's code may first write it to its file (14.6 MB for a small Go
// guest). It reports whether it did: not when ev is empty or r is closed.
// The accounting is done already (evictLocked); Close waits for the
// goroutine. r.mu must be held.
func (r *Runtime) closeEvictedBesideLocked(ev []evicted) bool {
	if len(ev) == 0 || r.closed {
		return false
	}
	r.unloading.Add(1)
	go func() {
		defer r.unloading.Done()
		r.closeEvicted(context.Background(), ev)
	}()
	return true
}

// closeEvicted does what eviction took, outside r.mu: it closes compiled
// code, and drops the resident pages of code that stays loaded. Code whose
// pages cannot be dropped (it could not be written to its file, or its
// mapping is no longer what was listed) is charged again in full, and the
// budget is made to fit by closing modules instead.
func (r *Runtime) closeEvicted(ctx context.Context, ev []evicted) {
	for len(ev) > 0 {
		var failed []evicted
		for _, e := range ev {
			if e.dropCode {
				dropped, err := dropCompiledCode(e.compiled)
				if err != nil {
					klog.V(2).InfoS("Dropping the resident pages of a module's compiled code failed; closing modules instead", "digest", e.module.Digest, "reason", err.Error())
					failed = append(failed, e)
					continue
				}
				r.metrics.codeDropped()
				klog.V(4).InfoS("Dropped the resident pages of a module's compiled code", "digest", e.module.Digest, "codeBytes", dropped)
				continue
			}
			closeSpares(e.spares)
			closeCompiled(context.WithoutCancel(ctx), e.compiled)
			r.metrics.evicted(e.reason)
			klog.V(2).InfoS("Evicted the compiled code of a module", "digest", e.module.Digest, "estimatedBytes", e.module.cost, "reason", e.reason)
		}
		if len(failed) == 0 {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		for _, e := range failed {
			// Its listing is gone (dropCompiledCode): the module is
			// closed, not dropped, when the budget next needs its room.
			if m := e.module; m.compiled == e.compiled {
				r.chargeCodeLocked(m)
				m.codeBytes = 0
			}
		}
		ev = r.evictLocked(nil, false)
		r.mu.Unlock()
	}
}
