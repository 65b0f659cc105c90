package runtime

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// Spare instances. Whatever is put into a new instance's memory after
// (a snapshot, a template), wazero builds the instance first: its table,
// one function reference per element (~2,300 for a small Go guest, three
// allocations each), its globals and its call engine. That is half the
// CPU of a small guest's RestoreFile and 30% of its whole wake's (more of
// a client-go guest's, whose table is larger), and nearly all of the
// garbage a wake leaves, whose collections set its 99th percentile
// (docs/benchmarks.md).
//
// With Config.SpareIdle set, an instance closed (its controller
// suspended) leaves behind one spare: an instance of the module built
// ahead of the next wake, on a goroutine of its own once the wake is
// over, for the same tenant, with the same argument, environment and
// memory limit. The next restore of a snapshot file (RestoreFile) or
// start from a template with all four the same takes it instead of
// building one. A restore that
// reads its snapshot (Restore) does not: it keeps the pages that still
// hold what the data segments wrote, which a spare's memory does not.
//
// A spare is blank: no guest code has run in it (only modules whose data
// segments the runtime writes have spares, and those have no start
// section), its memory is a mapping of its own that nothing has touched,
// and every page of it is mapped over, read from the snapshot or cleared
// before the guest runs (restoreV2, applyTemplate), as for an instance
// built at the wake. What sets it apart from one built at the wake is
// bound when it is taken: its controller's configuration, log streams and
// clock.
//
// Spares are bounded: one per module and key (spareKey), at most
// maxSpares in a runtime, each closed after Config.SpareIdle unused. A
// spare is not a live instance of its module: eviction, idle unload,
// release and Runtime.Close close it before the compiled code it was
// built from.

// maxSpares bounds the spares of a runtime: each holds wazero's instance
// (its table and engine: 0.15 MB of heap for a small Go guest, 1.2 MB for
// one built on client-go, BenchmarkResume's spare-heap-bytes) and a
// mapping of address space.
const maxSpares = 64

// spareKey identifies what a spare is built with besides the module: the
// guest's argument, its whole environment and its memory limit; and whom
// for, its tenant. A blank spare holds nothing of its tenant's, but
// whatever an instance holds stays within its tenant, as templates do.
type spareKey [sha256.Size]byte

// newSpareKey hashes the tenant, argument (arg), memory limit and
// environment of an instance of cfg, each length-prefixed.
func newSpareKey(cfg InstanceConfig, arg string) spareKey {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s%d:%s%d;", len(cfg.Tenant), cfg.Tenant, len(arg), arg, cfg.MemoryLimit)
	hashEnv(h, cfg.Env)
	var key spareKey
	copy(key[:], h.Sum(nil))
	return key
}

// spare is an instance built ahead of a wake.
type spare struct {
	inst *Instance
	// compiled is the code the instance was built from: a spare is used
	// only while its module still has it.
	compiled wazero.CompiledModule
	// expire closes the spare once it has waited Config.SpareIdle.
	expire *time.Timer
}

// spareRequest is what a spare is built with.
type spareRequest struct {
	key   spareKey
	arg   string
	env   map[string]string
	limit uint64
}

// takeSpare returns the module's spare for key, bound to nothing yet, if
// it has one built from compiled, the code the caller acquired. r.mu must
// not be held.
func (m *Module) takeSpare(key spareKey, compiled wazero.CompiledModule) *Instance {
	r := m.runtime
	r.mu.Lock()
	s := m.spares[key]
	if s == nil {
		r.mu.Unlock()
		return nil
	}
	r.dropSpareLocked(m, key)
	r.mu.Unlock()
	if s.compiled != compiled {
		// Evicted and compiled again since, which closes spares: not
		// reached, but a spare of other code must never run.
		s.inst.closeSpare()
		return nil
	}
	return s.inst
}

// dropSpareLocked takes the module's spare for key out of the runtime's
// count and stops its expiry; the caller closes or uses it. r.mu must be
// held.
func (r *Runtime) dropSpareLocked(m *Module, key spareKey) *spare {
	s := m.spares[key]
	if s == nil {
		return nil
	}
	delete(m.spares, key)
	s.expire.Stop()
	r.spareCount--
	return s
}

// takeSparesLocked takes all the module's spares, for the caller to close
// before its compiled code. r.mu must be held.
func (r *Runtime) takeSparesLocked(m *Module) []*Instance {
	var out []*Instance
	for key := range m.spares {
		out = append(out, r.dropSpareLocked(m, key).inst)
	}
	return out
}

// takeAllSparesLocked takes every module's spares, for the caller to
// close. r.mu must be held.
func (r *Runtime) takeAllSparesLocked() []*Instance {
	var out []*Instance
	for _, m := range r.modules {
		out = append(out, r.takeSparesLocked(m)...)
	}
	return out
}

// closeSpares closes spares taken from their module.
func closeSpares(spares []*Instance) {
	for _, inst := range spares {
		inst.closeSpare()
	}
}

// spareArg is the argument an instance of cfg gets.
func (m *Module) spareArg(cfg InstanceConfig) string {
	if m.sharedInit {
		return abi.SharedInitArg
	}
	return cfg.Name
}

// spareAfter builds, beside the caller, a spare for instances configured
// as i, just closed, unless spares are off, the module has one or is
// building one, or the runtime holds maxSpares. When i did not start from
// a template or snapshot file (i.mapped) and the module keeps no
// templates, the next start would initialize, which takes no spare.
func (m *Module) spareAfter(i *Instance) {
	r := m.runtime
	mapped := i.mapped
	if r.cfg.SpareIdle <= 0 || (!mapped && r.templateBudget() < 0) {
		return
	}
	arg, key := m.spareArg(i.cfg), i.spareKey
	if key == (spareKey{}) { // spares were off when i started
		key = newSpareKey(i.cfg, arg)
	}
	req := spareRequest{key: key, arg: arg, env: i.cfg.Env, limit: i.cfg.MemoryLimit}
	r.mu.Lock()
	// Only a module whose data segments the runtime writes (m.init) is
	// sure to have no start section: building its spare runs no guest
	// code, and writes nothing to its memory.
	if r.closed || m.refs <= 0 || m.compiled == nil || m.init == nil || m.codeDropped || (!mapped && m.noTemplates) || m.spares[req.key] != nil ||
		m.sparing[req.key] || r.spareCount >= maxSpares {
		r.mu.Unlock()
		return
	}
	// Counted now, so that the bound holds for spares under way too; and
	// live, so that the code is not closed while the spare is built.
	r.spareCount++
	if m.sparing == nil {
		m.sparing = make(map[spareKey]bool)
	}
	m.sparing[req.key] = true
	m.live++
	compiled := m.compiled
	r.sparing.Add(1)
	m.spareBuilds.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.sparing.Done()
		defer m.spareBuilds.Done()
		m.buildSpare(req, compiled)
	}()
}

// buildSpare builds the spare spareAfter counted, and keeps it if its
// module still has the code it was built from.
func (m *Module) buildSpare(req spareRequest, compiled wazero.CompiledModule) {
	r := m.runtime
	ctx := context.Background()
	inst, err := m.newSpare(ctx, req, compiled)
	if err != nil {
		klog.V(4).InfoS("Building a spare instance failed", "digest", m.Digest, "err", err)
	}
	r.mu.Lock()
	delete(m.sparing, req.key)
	keep := inst != nil && !r.closed && m.refs > 0 && m.compiled == compiled && m.spares[req.key] == nil
	if keep {
		if m.spares == nil {
			m.spares = make(map[spareKey]*spare)
		}
		s := &spare{inst: inst, compiled: compiled}
		s.expire = time.AfterFunc(r.cfg.SpareIdle, func() { m.expireSpare(req.key, s) })
		m.spares[req.key] = s
	} else {
		r.spareCount--
	}
	r.mu.Unlock()
	if !keep && inst != nil {
		inst.closeSpare()
	}
	// The spare is not a live instance: the module may be evicted or
	// unloaded from now on, which closes it.
	m.instanceDone(ctx)
}

// expireSpare closes s, the module's spare for key, unless it was taken.
func (m *Module) expireSpare(key spareKey, s *spare) {
	r := m.runtime
	r.mu.Lock()
	if m.spares[key] != s {
		r.mu.Unlock()
		return
	}
	r.dropSpareLocked(m, key)
	r.mu.Unlock()
	s.inst.closeSpare()
}

// newSpare instantiates compiled as req says, blank: without its start
// function, with its memory a mapping of its own whose pages are not
// backed.
func (m *Module) newSpare(ctx context.Context, req spareRequest, compiled wazero.CompiledModule) (_ *Instance, err error) {
	inst := &Instance{owner: m}
	alloc := limitedAllocator{limit: req.limit, hit: &inst.oomHit, out: &inst.memoryBuf, mappings: &m.runtime.mappings,
		mappedRuns: &m.runtime.mappedRuns, lazy: true}
	defer func() {
		if p := recover(); p != nil {
			inst.closed = true
			inst.freeMemory()
			err = fmt.Errorf("%w while building a spare: %v", ErrTrap, p)
		}
	}()
	mc := inst.moduleConfig(req.arg, req.env, nil, klog.Logger{}, nil)
	mod, err := m.runtime.wazero.InstantiateModule(newAllocatorContext(ctx, inst, alloc), compiled, mc)
	if err != nil {
		inst.freeMemory()
		return nil, err
	}
	inst.module = mod
	if inst.memoryBuf == nil || !inst.memoryBuf.mapped {
		// Restores map a snapshot over a mapping of the instance's own:
		// an ordinary one would read it instead, a spare saves little.
		inst.closeSpare()
		return nil, fmt.Errorf("the memory is not a mapping")
	}
	inst.memoryBuf.lazy = false
	inst.reconcile = mod.ExportedFunction(abi.ReconcileExport)
	return inst, nil
}

// bindSpare makes a spare, taken for key, the instance of cfg, whose
// monotonic clock is the runtime's plus clockOffset.
func (i *Instance) bindSpare(cfg InstanceConfig, key spareKey, clockOffset int64) {
	i.cfg, i.spareKey, i.clockOffset, i.fromSpare, i.mapped = cfg, key, clockOffset, true, true
	i.stdout.bind(cfg.Logger, cfg.LogLimiter)
	i.stderr.bind(cfg.Logger, cfg.LogLimiter)
}

// closeSpare closes a spare never taken, or taken and not used: it holds
// no live instance of its module.
func (i *Instance) closeSpare() {
	i.closeModule(context.Background())
	i.freeMemory()
}
