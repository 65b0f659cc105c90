package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"k8s.io/component-base/metrics"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
)

// Config configures a Runtime.
type Config struct {
	// CacheDir, when set, keeps compiled code on disk so that a restart, or
	// loading a module again after it was evicted, does not recompile. The
	// module bytes an evicted module compiles again from are kept there
	// too, in modules/, instead of in memory.
	CacheDir string
	// CompiledBudgetBytes bounds the estimated resident size of the
	// compiled code of all loaded modules; 0 means no bound. Over it,
	// modules without live instances first have the resident pages of
	// their native code dropped where it can be mapped from a file
	// (CacheDir on a disk, codefile.go), staying loaded; then, if that is
	// not enough, give up their compiled code, and compile it again when
	// next needed (from the disk cache when CacheDir is set); least
	// recently used first (evictLocked). See Runtime.CompiledBytes.
	CompiledBudgetBytes int64
	// CompiledIdleUnload, when positive, is how long a module may go
	// without a live instance before it gives up its compiled code (and
	// its templates), whatever the budget: its controllers are all
	// suspended, and their next wake loads the code again, from the disk
	// cache when CacheDir is set (tens of milliseconds for a small Go
	// guest; docs/benchmarks.md). 0 keeps compiled code until the budget
	// needs its room or the module is released.
	CompiledIdleUnload time.Duration
	// IdleUnloaded, when set, is called after a module's compiled code was
	// unloaded for being idle, outside the runtime's locks: the process
	// has just freed memory, and its garbage, which its owner may want to
	// give back to the OS now rather than later.
	IdleUnloaded func()
	// MaxCodeBytes bounds the code section of a module Load accepts, checked
	// before compiling: compiling takes many times the code's size in
	// memory (docs/benchmarks.md). 0 means DefaultMaxCodeBytes; a negative
	// value, no bound.
	MaxCodeBytes int64
	// MaxFunctionBytes bounds the code of any one function of a module Load
	// accepts, checked before compiling: the compiler's memory grows
	// faster than linearly with a function's size (a single function of
	// 4 MB took 215 MB to compile, the same code in 2,000 functions 2 MB).
	// 0 means DefaultMaxFunctionBytes; a negative value, no bound.
	MaxFunctionBytes int64
	// Source, when set, returns the bytes of a loaded module by digest (as
	// the server's module store keeps them). When the bytes an evicted
	// module compiles again from are lost or damaged, the runtime derives
	// them again from Source and keeps them anew, instead of failing every
	// wake of the module until it is loaded again.
	Source func(ctx context.Context, digest string) ([]byte, error)
	// Metrics, when set, is the registry the runtime registers its metrics
	// on: reloads of evicted compiled code and the state of the budget
	// (resident code, modules over the budget). nil counts nothing.
	Metrics metrics.KubeRegistry
	// TemplateBudgetBytes bounds the memory held by templates of guests'
	// initialized memory: the first fresh instance of a module with a
	// given name, environment and reconciler keeps its memory and globals
	// right after initialization, and later fresh instances map them copy-on-write
	// instead of initializing. A module's templates go with its compiled
	// code (eviction, release); when the budget is full, a new template
	// takes the place of templates unused for a minute, or is not kept.
	// 0 or a negative value turns templates off, the default of a zero
	// Config; the server sets --template-budget. DefaultTemplateBudgetBytes
	// is the suggested budget. A template and everything it costs the
	// process (mappings, files, scratch memory) is bounded against hostile
	// modules (docs/RATIONALE.md). See Runtime.TemplateBytes.
	TemplateBudgetBytes int64
	// TemplateDir, when set, holds the templates' pages, a file each
	// (template_linux.go): page cache, which the kernel reclaims
	// while no instance maps it, and reads back from the disk when one
	// next does, as it does snapshots. Empty: they are held in memory
	// (memfd) for as long as the templates are kept. TemplateBudgetBytes
	// bounds them either way. The directory is the runtime's own: New
	// removes the files named template-* it finds there.
	TemplateDir string
	// ImageDir, when set, holds the memory images of modules, one file
	// per module, that SaveSnapshot's files are deltas against: a snapshot
	// stores only the pages that differ from what the module's data
	// segments write, and maps the others from the module's image file,
	// written by its first snapshot. Empty: snapshots store every page
	// that is not zero. See RemoveUnusedImages.
	ImageDir string
	// SpareIdle, when positive, turns spare instances on: closing an
	// instance builds another of its module ahead of the next wake, on a
	// goroutine of its own, for the same tenant, argument, environment
	// and memory limit; the next restore of a snapshot file or start from
	// a template configured so takes it instead of instantiating the
	// module, half the CPU of a small guest's RestoreFile (spare.go). A spare
	// unused for SpareIdle is closed; a runtime keeps at most 64. 0, the
	// default of a zero Config, builds none; the server sets
	// --spare-instance-idle.
	SpareIdle time.Duration

	// cache, when set, is the compilation cache to use instead of one in
	// CacheDir: the package's tests share one across their runtimes.
	cache wazero.CompilationCache
	// noCodeFiles keeps compiled code in anonymous memory whatever
	// CacheDir is (codefile.go): eviction can then only close modules.
	noCodeFiles bool
}

// DefaultMaxCodeBytes is the bound on a module's code section when
// Config.MaxCodeBytes is 0: room for a guest using client-go's typed
// clientset (37 MB of code), which compiles to about 300 MB.
const DefaultMaxCodeBytes = 48 << 20

// DefaultMaxFunctionBytes is the bound on one function's code when
// Config.MaxFunctionBytes is 0: Go's largest functions in a guest are tens
// of kilobytes.
const DefaultMaxFunctionBytes = 2 << 20

// bound returns a Config bound: def for 0, -1 (none) for a negative value.
func bound(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

// Runtime compiles and runs guests. Each distinct module (by digest) is
// compiled once and shared by every controller that loads it.
type Runtime struct {
	wazero wazero.Runtime
	cfg    Config
	// keepDataSegments skips merging data segments, for benchmarks.
	keepDataSegments bool
	// interruptible rewrites modules so that guests stop when their
	// context is done (interrupt.go); only benchmarks turn it off.
	interruptible bool
	// codeFiles says whether modules' compiled code may be mapped from
	// files in CacheDir (codefile.go): there is one, not in memory.
	codeFiles bool
	// noTemplates turns templates off, for benchmarks.
	noTemplates bool
	// noPrefault leaves the hot runs of snapshots to fault in as the
	// guest touches them (snapshot_hot.go), for benchmarks.
	noPrefault bool
	// idleTemplate, when set, replaces defaultTemplateIdle, for tests.
	idleTemplate time.Duration
	// provided are the host functions guests may import.
	provided providedImports
	// metrics count reloads; nil counts nothing.
	metrics *runtimeMetrics

	// loadMu serializes compiling new modules, so that two Loads of one
	// digest compile it once.
	loadMu sync.Mutex

	mu            sync.Mutex
	modules       map[string]*Module
	compiledBytes int64  // estimated size of the resident compiled code
	clock         uint64 // ticks on each use of a module, for LRU eviction
	templateBytes int64  // memory charged to modules' templates
	templateCount int    // templates kept, at most maxTemplates
	closed        bool   // Close was called: no module is unloaded after
	// unloading counts the idle unloads (unloadIfIdle) and the evictions
	// done beside a wake (closeEvictedBesideLocked) under way, begun
	// before Close, which waits for them.
	unloading sync.WaitGroup

	// capturing is held by the one template capture under way.
	capturing sync.Mutex

	// scratch is memory for instances started from templates.
	scratch scratchMemory
	// mappings counts guests' memory mappings not yet unmapped.
	mappings atomic.Int64
	// mappedRuns counts the runs of files (templates, snapshots, memory
	// images) mapped into guests' memories, each a mapping of its own
	// (maxLiveMappedRuns).
	mappedRuns atomic.Int64
	// snapshots remembers the snapshot files whose pages are verified.
	snapshots snapshotFiles
	// spareCount counts the spares kept and being built (spare.go), at
	// most maxSpares; sparing counts those being built, for Close to wait
	// for. spareCount is guarded by mu.
	spareCount int
	sparing    sync.WaitGroup
}

// New builds a runtime with the host imports of docs/abi.md and WASI.
//
// # Notes
//
//   - Guests are interrupted when their context is done: Load rewrites
//     every loop to call into the host once in a while (interrupt.go).
//     Without it a guest spinning in a loop would never stop and would
//     stall the whole host, since Go's stop-the-world GC waits for it; the
//     price, a count kept at every loop header, is measured in
//     docs/benchmarks.md.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	return newRuntime(ctx, cfg, true)
}

// newRuntime is New with interruption optional, so that benchmarks can
// measure what it costs. Production code always interrupts.
func newRuntime(ctx context.Context, cfg Config, interruptible bool) (*Runtime, error) {
	rc := wazero.NewRuntimeConfigCompiler()
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(filepath.Join(cfg.CacheDir, modulesDir), 0o700); err != nil {
			return nil, &StorageError{Op: "compilation cache in " + cfg.CacheDir, Err: err}
		}
		if cfg.cache == nil {
			cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
			if err != nil {
				// Something took the place of the cache's directory:
				// the cache is only a cache, start it again.
				klog.ErrorS(err, "Opening the compilation cache; discarding it", "cacheDir", cfg.CacheDir)
				if derr := discardCompilationCache(cfg.CacheDir); derr == nil {
					cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir)
				}
			}
			if err != nil {
				return nil, &StorageError{Op: "compilation cache in " + cfg.CacheDir, Err: err}
			}
			rc = rc.WithCompilationCache(cache)
		}
	}
	if cfg.cache != nil {
		rc = rc.WithCompilationCache(cfg.cache)
	}
	if cfg.TemplateDir != "" {
		if err := prepareTemplateDir(cfg.TemplateDir); err != nil {
			return nil, err
		}
	}
	r := &Runtime{wazero: wazero.NewRuntimeWithConfig(ctx, rc), cfg: cfg, modules: map[string]*Module{}, interruptible: interruptible,
		codeFiles: cfg.CacheDir != "" && !cfg.noCodeFiles && !dirInMemory(cfg.CacheDir)}
	// Host modules are compiled to code too (codefile.go).
	if err := mappingCode(func() error {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.wazero); err != nil {
			return fmt.Errorf("instantiating WASI: %w", err)
		}
		if err := instantiateHostModule(ctx, r.wazero); err != nil {
			return fmt.Errorf("instantiating host imports: %w", err)
		}
		if err := instantiateInterruptModule(ctx, r.wazero); err != nil {
			return fmt.Errorf("instantiating the interrupt check: %w", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	provided, err := newProvidedImports(r.wazero)
	if err != nil {
		return nil, err
	}
	r.provided = provided
	if r.metrics, err = newRuntimeMetrics(cfg.Metrics, r); err != nil {
		_ = r.wazero.Close(ctx)
		return nil, fmt.Errorf("registering the runtime's metrics: %w", err)
	}
	return r, nil
}

// Close releases everything the runtime holds, closing every instance.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	spares := r.takeAllSparesLocked()
	for _, m := range r.modules {
		r.dropTemplatesLocked(m)
		if m.idleUnload != nil {
			m.idleUnload.Stop()
		}
	}
	r.mu.Unlock()
	r.sparing.Wait() // none is kept once closed
	closeSpares(spares)
	r.unloading.Wait()
	r.forgetCodeFiles()
	err := r.wazero.Close(ctx)
	r.scratch.close()
	return err
}

// modulesDir is where, under Config.CacheDir, the bytes of loaded modules
// (as rewritten at load) are kept for compiling them again after eviction.
const modulesDir = "modules"

// Load compiles wasm, or shares the module already loaded with the same
// digest. Every Load must be paired with a Release of the returned module.
//
// At load the module is rewritten (the bytes compiled differ from wasm;
// Module.Digest stays the digest of wasm): its data segments are merged,
// its loops count down to a check that stops a guest whose context is done
// (interrupt.go), and each mutable global is exported under
// GlobalExportPrefix so that snapshots can restore it.
//
// # Errors
//
// An *ABIError, permanent for these bytes, when they are not a WebAssembly
// module this host can run: malformed, over Config.MaxCodeBytes of code,
// importing anything the host does not provide (or the reserved
// wasm_apiserver_interrupt module), or exporting the functions of
// docs/abi.md with other signatures. A *StorageError (errors.Is(err,
// ErrStorage)), not about the module and worth retrying, when the server's
// storage fails: the bytes cannot be kept in Config.CacheDir, or its
// compilation cache fails even after its entries were discarded.
func (r *Runtime) Load(ctx context.Context, wasm []byte) (*Module, error) {
	digest := wasmmodule.Digest(wasm)
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	r.mu.Lock()
	if m, ok := r.modules[digest]; ok {
		m.refs++
		r.mu.Unlock()
		return m, nil
	}
	r.mu.Unlock()

	m, compiled, err := r.compileNew(ctx, digest, wasm)
	if err != nil {
		return nil, err
	}

	codeBytes := listedCodeBytes(compiled)
	m.droppable = codeBytes
	if err := m.CheckCompiledBudget(); err != nil {
		// Once per module: its controllers report it in their status.
		klog.InfoS("A module's compiled code is larger than the compiled-module budget; it is compiled again at every wake after its instances close",
			"digest", digest, "estimatedBytes", m.cost, "idleBytes", m.idleCost(), "budgetBytes", r.cfg.CompiledBudgetBytes)
	}
	r.mu.Lock()
	r.modules[digest] = m
	m.compiled, m.codeBytes = compiled, codeBytes
	r.compiledBytes += m.cost
	m.lastUsed = r.tick()
	evicted := r.evictLocked(m, false)
	r.armIdleUnloadLocked(m)
	r.unlockEvicting(ctx, evicted, false)
	return m, nil
}

// LoadedModules returns how many distinct modules are loaded (resident or
// evicted).
func (r *Runtime) LoadedModules() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.modules)
}

// CompiledBytes returns the estimated resident size of the compiled code of
// the loaded modules that are resident (not evicted). The estimate is a
// multiple of each module's code section, measured in docs/benchmarks.md,
// less the native code the budget dropped from modules not woken since.
func (r *Runtime) CompiledBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.compiledBytes
}

// tick returns the next value of the use clock. r.mu must be held.
func (r *Runtime) tick() uint64 {
	r.clock++
	return r.clock
}

func (r *Runtime) release(ctx context.Context, m *Module) {
	r.mu.Lock()
	m.refs--
	last := m.refs == 0
	var compiled wazero.CompiledModule
	var spares []*Instance
	if last {
		delete(r.modules, m.Digest)
		if m.compiled != nil {
			compiled = m.compiled
			r.compiledBytes -= m.charge()
			m.compiled, m.init = nil, nil
			m.codeBytes, m.codeDropped = 0, false
		}
		r.dropTemplatesLocked(m)
		spares = r.takeSparesLocked(m)
		if m.idleUnload != nil {
			m.idleUnload.Stop()
		}
	}
	r.mu.Unlock()
	if last {
		// A spare being built uses the code; none is kept once released.
		m.spareBuilds.Wait()
		closeSpares(spares)
	}
	if compiled != nil {
		closeCompiled(ctx, compiled)
	}
	if last && m.path != "" {
		if err := os.Remove(m.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			klog.ErrorS(err, "Removing the kept bytes of a released module", "digest", m.Digest)
		}
	}
}

// ABIError says why a module cannot run on this host. It is permanent for
// the module's bytes: loading them again fails the same way.
type ABIError struct {
	Reason string
}

func (e *ABIError) Error() string { return e.Reason }
