package runtime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// InstanceConfig configures one guest instance.
type InstanceConfig struct {
	// Name tags the guest's logs, is the "controller" of each reconcile's
	// input and, unless the module exports wasm_apiserver_shared_init, the
	// guest's one argument (args_get): the "namespace/name" of its
	// controller, as docs/abi.md specifies.
	Name string
	// Tenant is whom the instance runs for: the namespace of its
	// controller. Instances of a module that exports
	// wasm_apiserver_shared_init share a template (Instantiate) only with
	// instances of the same Tenant, Env and Reconciler, never across
	// tenants: a template holds what its init drew from random_get. With
	// no Tenant, an instance shares its template with no other Name.
	Tenant string
	// Env is the whole environment the guest sees.
	Env map[string]string
	// Reconciler selects, by name, which reconciler of a bundle module the
	// instance runs; empty selects the module's default. The instance
	// tells the guest before its first reconcile (select_reconciler,
	// docs/abi.md), and the selection holds for the instance's life.
	Reconciler string
	// MemoryLimit is the most linear memory the guest may grow to, in bytes.
	// It must be at least the module's MinMemoryBytes.
	MemoryLimit uint64
	// InitTimeout bounds the guest's initialization (its _initialize
	// export) in Instantiate, and restoring a snapshot in Restore, besides
	// the context passed to them; 0 means DefaultInitTimeout.
	InitTimeout time.Duration
	// LogLimiter bounds the guest's log output. Share one among the
	// instances of a controller, so that its rates hold for the
	// controller; nil gives the instance a limiter of its own at the
	// Default* rates.
	LogLimiter *LogLimiter
	// API serves the guest's API requests.
	API APIHandler
	// Logger receives the guest's log calls and its stdout and stderr.
	Logger klog.Logger
}

// Instance is a running guest. One reconcile runs at a time on it.
type Instance struct {
	cfg    InstanceConfig
	owner  *Module
	module api.Module
	// reconcile is looked up once: each lookup builds a new call engine
	// with its own stack.
	reconcile api.Function
	oomHit    bool
	// memoryBuf is the guest's linear memory when it is a mapping of its
	// own (memory.go), which a template can be mapped over; else nil.
	memoryBuf *limitedMemory
	// callCtx is the context of the call running on the instance, for the
	// host functions wazero calls without it (WASI's sleep). It is written
	// before each call, under mu.
	callCtx context.Context
	// clockOffset is added to the runtime's monotonic clock to give the
	// guest's: 0 for a fresh instance, whatever continues the snapshot's
	// reading for a restored one.
	clockOffset int64
	// restoredRuns are the runs of the snapshot mapped over the memory
	// when the instance was restored by mapping one; nil otherwise, or
	// once compaction mapped over them (pagehints.go). A mapped memory
	// never moves: it is reserved at its maximum (limitedAllocator).
	restoredRuns []snapshotRun
	// prefaulted are the hot runs of that snapshot copied into the
	// memory at the restore (snapshot_hot.go), for the next snapshot to
	// age; nil when there were none, or the kernel did not copy them.
	prefaulted []hotRun
	// fromTemplate says the instance started from a template rather than
	// running its initialization, fromSpare that it was built ahead of
	// its wake (spare.go). Set before the instance is returned.
	fromTemplate bool
	fromSpare    bool
	// mapped says that the instance started with a template or snapshot
	// file mapped over its memory, which a spare could have served.
	mapped bool
	// spareKey is the key of the instance's spares (spare.go), hashed at
	// its start when spares are on; zero otherwise.
	spareKey spareKey
	// stdout and stderr are the guest's WASI output streams, bound to its
	// controller's logger once that is known (bindSpare).
	stdout, stderr *lineLogger
	// memory is the linear memory size after the last call, 0 once closed;
	// read without the lock so that asking never waits for a reconcile.
	memory atomic.Uint64

	mu     sync.Mutex // serializes calls
	closed bool
}

// FromTemplate says whether the instance started from a template of its
// module's initialized memory (Instantiate) rather than initializing.
func (i *Instance) FromTemplate() bool { return i.fromTemplate }

// monotonicEpoch anchors the runtime's monotonic clock.
var monotonicEpoch = time.Now()

// monotonicBase keeps the clock's readings far from zero: Go's runtime
// takes a zero reading for a broken clock.
const monotonicBase = int64(time.Hour)

// monotonicNow reads the runtime's monotonic clock, which every guest's
// monotonic clock follows (plus the instance's offset): nanoseconds since
// the package was initialized, plus monotonicBase.
func monotonicNow() int64 {
	return monotonicBase + int64(time.Since(monotonicEpoch))
}

// DefaultInitTimeout bounds a guest's initialization when
// InstanceConfig.InitTimeout is 0.
const DefaultInitTimeout = 10 * time.Second

// Instantiate starts a guest: it creates its memory and runs its
// _initialize export, for at most cfg.InitTimeout and until ctx is done.
//
// # Notes
//
//   - When templates are on (Config.TemplateBudgetBytes positive), the
//     first instance of the module with cfg's Name, Env and Reconciler
//     keeps its memory and globals right after _initialize and
//     select_reconciler as a template; later instances with the same Name,
//     Env and Reconciler start from a copy-on-write mapping of it and run
//     neither (template.go, docs/abi.md). For a module that exports
//     wasm_apiserver_shared_init, cfg's Tenant, when set, takes the place
//     of its Name: the instances of all its controllers in a namespace
//     share templates.
//   - With Config.SpareIdle set, one that starts from a template takes the
//     spare an earlier instance's Close built for the same tenant,
//     argument, environment and memory limit, if there is one, instead of
//     instantiating the module (spare.go).
//
// # Errors
//
// A *MemoryLimitError (which is ErrMemoryLimit) when the module's minimum
// memory is over cfg.MemoryLimit; ErrMemoryLimit when initialization needs
// more memory than the limit, ErrTimeout when it runs past its deadline,
// ErrTrap or ErrExited when it fails; a *ReconcilerError (which is
// ErrReconcilerNotFound) when the module has no reconciler of the name
// cfg.Reconciler selects; other errors when the module was released or its
// evicted compiled code cannot be compiled again.
func (m *Module) Instantiate(ctx context.Context, cfg InstanceConfig) (*Instance, error) {
	templates := m.runtime.templateBudget() >= 0
	var key templateKey
	if templates {
		key = newTemplateKey(cfg, m.sharedInit)
		if t := m.template(key); t != nil && (t.memory > cfg.MemoryLimit || !m.runtime.runsLeft(t.pages.runCount())) {
			m.runtime.releaseTemplate(t)
		} else if t != nil {
			inst, err := m.instantiateFrom(ctx, cfg, t)
			if err == nil || !errors.Is(err, errTemplate) {
				return inst, err
			}
			klog.V(2).InfoS("Starting a guest from its module's initialized memory failed; its instances initialize from now on", "digest", m.Digest, "err", err)
			m.stopTemplates()
		}
	}
	inst, err := m.instantiate(ctx, cfg, 0, 0, false, nil)
	if err != nil {
		return nil, err
	}
	inst.memory.Store(uint64(inst.module.Memory().Size()))
	if templates {
		m.captureTemplate(key, inst)
	}
	return inst, nil
}

// instantiate creates an instance whose monotonic clock is the runtime's
// plus clockOffset. It runs _initialize unless restoreMemory, the size of
// the memory of the snapshot or template being restored, is set. When
// mapOver says that the template t, or else a snapshot file, is mapped
// over the whole memory once it grows to restoreMemory, the memory is
// scratch memory until then.
func (m *Module) instantiate(ctx context.Context, cfg InstanceConfig, clockOffset int64, restoreMemory uint64, mapOver bool, t *memoryTemplate) (_ *Instance, err error) {
	if err := m.CheckMemoryLimit(cfg.MemoryLimit); err != nil {
		return nil, err
	}
	if cfg.Reconciler != "" && !m.selects {
		return nil, m.noBundle(cfg.Reconciler)
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background().WithValues("guest", cfg.Name)
	}
	if cfg.LogLimiter == nil {
		cfg.LogLimiter = newDefaultLogLimiter()
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	compiled, init, err := m.acquire(ctx, true)
	if err != nil {
		return nil, err
	}
	// Compiling evicted code again is not the guest's time: the deadline
	// starts here.
	ctx, cancel := context.WithTimeout(ctx, cfg.InitTimeout)
	defer cancel()
	arg := m.spareArg(cfg)
	var key spareKey // hashed once, for the spare taken and the one after
	if m.runtime.cfg.SpareIdle > 0 {
		key = newSpareKey(cfg, arg)
	}
	if mapOver && key != (spareKey{}) {
		if inst := m.takeSpare(key, compiled); inst != nil {
			inst.bindSpare(cfg, key, clockOffset)
			m.runtime.metrics.spareTaken()
			return inst, nil
		}
	}
	inst := &Instance{cfg: cfg, owner: m, clockOffset: clockOffset, mapped: mapOver, spareKey: key}
	var start []string
	if restoreMemory == 0 {
		start = []string{"_initialize"}
	}
	mc := inst.moduleConfig(arg, cfg.Env, start, cfg.Logger, cfg.LogLimiter)
	alloc := limitedAllocator{limit: cfg.MemoryLimit, reserve: restoreMemory, hit: &inst.oomHit, out: &inst.memoryBuf, mappings: &m.runtime.mappings, mappedRuns: &m.runtime.mappedRuns, init: init}
	if mapOver {
		alloc.scratchUntil, alloc.template, alloc.scratch = restoreMemory, t, &m.runtime.scratch
		if m.image != nil {
			alloc.written = m.image.written
		}
	}
	ictx := newAllocatorContext(ctx, inst, alloc)
	inst.callCtx = ictx
	defer func() {
		// The memory allocator and the guest's start run on this
		// goroutine: a panic there fails this instance, not the server.
		if p := recover(); p != nil {
			inst.closeLocked(ctx)
			inst.freeMemory()
			err = fmt.Errorf("%w while initializing: %v", ErrTrap, p)
		}
	}()
	mod, err := m.runtime.wazero.InstantiateModule(ictx, compiled, mc)
	inst.callCtx = nil
	if err != nil {
		inst.module = mod
		err = inst.classify(ctx, err, "initializing")
		// wazero does not free the memory of a module it failed to
		// instantiate before its start (a data segment out of bounds).
		inst.freeMemory()
		return nil, err
	}
	inst.module = mod
	inst.reconcile = mod.ExportedFunction(abi.ReconcileExport)
	if restoreMemory == 0 {
		// A restored guest selected its reconciler before its snapshot;
		// Restore asks it to confirm the selection once its memory is back.
		if err := inst.selectReconciler(ctx); err != nil {
			return nil, err
		}
	}
	return inst, nil
}

// moduleConfig returns the configuration wazero instantiates the guest
// with: arg, env and start, and the instance's clock, sleep and log
// streams, which read what the instance is bound to (Instance.clockOffset,
// its stdout and stderr, logging to logger within limiter until bound to
// another) when the guest calls them.
func (i *Instance) moduleConfig(arg string, env map[string]string, start []string, logger klog.Logger, limiter *LogLimiter) wazero.ModuleConfig {
	i.stdout, i.stderr = newLineLogger(logger, limiter, "stdout"), newLineLogger(logger, limiter, "stderr")
	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs(arg).
		WithStartFunctions(start...).
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithNanotime(func() int64 { return monotonicNow() + i.clockOffset }, sys.ClockResolution(1)).
		WithNanosleep(i.sleep).
		WithStdout(i.stdout).
		WithStderr(i.stderr)
	for k, v := range env {
		mc = mc.WithEnv(k, v)
	}
	return mc
}

// newAllocatorContext returns ctx for instantiating inst with alloc as its
// memory allocator.
func newAllocatorContext(ctx context.Context, inst *Instance, alloc limitedAllocator) context.Context {
	return experimental.WithMemoryAllocator(withInstance(ctx, inst), alloc)
}

// sleep is the guest's WASI sleep (poll_oneoff with a clock): it ends when
// the time has passed or, ending the call, when the call's context is done.
func (i *Instance) sleep(ns int64) {
	ctx := i.callCtx
	if ctx == nil {
		ctx = context.Background()
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		panic(sys.NewExitError(exitCode(ctx)))
	}
}

// Reconcile runs the guest's reconcile for req. ctx bounds it: when ctx is
// done the guest is stopped and the instance closed.
//
// # Errors
//
//   - *GuestError when the guest reported the reconcile failed; the
//     instance stays usable.
//   - ErrTrap (a *TrapError), ErrTimeout, ErrMemoryLimit, ErrExited: the
//     instance has been closed; start a new one.
//   - ErrClosed when the instance was already closed.
func (i *Instance) Reconcile(ctx context.Context, req Request) (Result, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return Result{}, ErrClosed
	}
	req.Controller = i.cfg.Name
	input, err := json.Marshal(req)
	if err != nil {
		return Result{}, err
	}
	c := &call{input: input}
	ctx = withCall(withInstance(ctx, i), c)
	// Only for the call: the context holds the call's input and the
	// guest's last API response (up to abi.MaxResponseBytes), which an
	// idle instance must not keep outside the guest's memory limit.
	i.callCtx = ctx
	defer func() { i.callCtx = nil }()
	ret, err := i.reconcile.Call(ctx, uint64(len(input)))
	if err != nil {
		return Result{}, i.classify(ctx, err, "reconciling")
	}
	i.memory.Store(uint64(i.module.Memory().Size()))
	out := Result{}
	if c.result.RequeueAfterMillis > 0 {
		out.RequeueAfter = time.Duration(c.result.RequeueAfterMillis) * time.Millisecond
	}
	switch status := api.DecodeU32(ret[0]); status {
	case 0:
		return out, nil
	case 1:
		return out, &GuestError{Message: c.result.Error}
	default:
		msg := fmt.Sprintf("reconcile returned %d, which docs/abi.md does not define: failed", status)
		if c.result.Error != "" {
			msg += ": " + c.result.Error
		}
		return out, &GuestError{Message: msg}
	}
}

// freeMemory unmaps the guest's memory, if it is a mapping not yet freed,
// once the guest is closed.
func (i *Instance) freeMemory() {
	if i.memoryBuf != nil {
		i.memoryBuf.Free()
		i.memoryBuf = nil
	}
}

// classify turns a failed call into one of the package's errors and closes
// the instance, which must not be used again after a failure like these.
func (i *Instance) classify(ctx context.Context, err error, during string) error {
	i.closeLocked(ctx)
	var exit *sys.ExitError
	switch {
	case i.oomHit:
		trap := newTrapError(err, during)
		i.cfg.Logger.V(4).Info("Guest ran out of memory", "during", during, "trace", trap.Trace())
		return fmt.Errorf("%w (limit %d bytes) while %s: %s", ErrMemoryLimit, i.cfg.MemoryLimit, during, trap.summary())
	case errors.As(err, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled):
		return fmt.Errorf("%w while %s: %w", ErrTimeout, during, ctx.Err())
	case errors.As(err, &exit):
		return fmt.Errorf("%w with code %d while %s", ErrExited, exit.ExitCode(), during)
	default:
		trap := newTrapError(err, during)
		i.cfg.Logger.V(4).Info("Guest trapped", "during", during, "trace", trap.Trace())
		return trap
	}
}

// MemoryBytes is the size of the guest's linear memory after its last
// call, or 0 once it is closed. It never waits for a running reconcile.
func (i *Instance) MemoryBytes() uint64 {
	return i.memory.Load()
}

// Closed reports whether the instance was closed, by Close or a failure.
func (i *Instance) Closed() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.closed
}

// Close stops the guest and frees its memory. It waits for a running
// reconcile to finish; cancel its context first to stop it sooner.
//
// With Config.SpareIdle set, closing an instance that was open builds a
// spare for the next start of one configured as it was (spare.go).
func (i *Instance) Close(ctx context.Context) {
	i.mu.Lock()
	open := !i.closed
	i.closeLocked(ctx)
	i.mu.Unlock()
	if open {
		i.owner.spareAfter(i)
	}
}

// closeLocked closes the guest, if not yet closed, and drops every
// reference to it, so that a closed Instance kept by a caller does not pin
// the module's compiled code. i.mu must be held, or i not yet shared.
func (i *Instance) closeLocked(ctx context.Context) {
	if i.closed {
		return
	}
	i.closeModule(ctx)
	i.owner.instanceDone(ctx)
}

// closeModule closes the guest's wazero module and drops it.
func (i *Instance) closeModule(ctx context.Context) {
	i.closed = true
	i.memory.Store(0)
	if i.module != nil {
		_ = i.module.Close(context.WithoutCancel(ctx))
	}
	i.module, i.reconcile = nil, nil
}
