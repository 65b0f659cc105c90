package runtime

import (
	"context"

	"github.com/tetratelabs/wazero"
	"k8s.io/klog/v2"
)

// evicted is a module's compiled code taken away by eviction, to be closed
// outside r.mu.
type evicted struct {
	module   *Module
	compiled wazero.CompiledModule
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
		out = append(out, evicted{victim, victim.compiled})
		victim.compiled, victim.init = nil, nil
		r.compiledBytes -= victim.cost
		r.dropTemplatesLocked(victim)
	}
	return out
}

// evictBefore says whether a goes before b: a module over the budget on
// its own before one within it, then the least recently used.
func evictBefore(a, b *Module) bool {
	if ao, bo := a.overBudget(), b.overBudget(); ao != bo {
		return ao
	}
	return a.lastUsed < b.lastUsed
}

func closeEvicted(ctx context.Context, ev []evicted) {
	for _, e := range ev {
		_ = e.compiled.Close(context.WithoutCancel(ctx))
		klog.V(2).InfoS("Evicted the compiled code of a module", "digest", e.module.Digest, "estimatedBytes", e.module.cost)
	}
}
