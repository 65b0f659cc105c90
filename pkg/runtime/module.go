package runtime

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
)

// Module is a loaded guest module, shared by every controller using the
// same digest. Its compiled code may be evicted under the runtime's
// CompiledBudgetBytes; it is compiled again when needed, and the Module
// stays valid throughout.
type Module struct {
	runtime *Runtime
	// Digest is "sha256:<hex>" of the module bytes as given to Load.
	Digest string
	// Size is the size of the module bytes as given to Load.
	Size int
	// MinMemoryBytes is the linear memory an instance starts with, the
	// module's declared minimum: an instance cannot start under a smaller
	// MemoryLimit (see CheckMemoryLimit).
	MinMemoryBytes uint64

	// cost is the estimated resident size of the compiled code.
	cost int64
	// droppable is the size of the native code of the module's first
	// compile, when that code was listed to be mapped from a file: what
	// the budget can drop of cost while the module is idle (codefile.go).
	// Set at load, before the module is shared.
	droppable int64
	// selects says whether the module exports select_reconciler: it may
	// hold several reconcilers by name (a bundle).
	selects bool
	// sharedInit says whether the module exports
	// wasm_apiserver_shared_init: its guests get abi.SharedInitArg as
	// their argument, not their name, and the instances of one tenant
	// share templates (newTemplateKey).
	sharedInit bool
	// globals are the mutable globals, exported by the rewrite at load.
	globals []mutableGlobal
	// image is what the data segments write to a fresh instance's memory.
	image *memoryImage
	// snapshotErr says why instances of this module cannot be
	// snapshotted, or is nil.
	snapshotErr error
	// The bytes compiled (as rewritten at load), to compile again after
	// eviction: in the file at path when the runtime has a CacheDir,
	// otherwise in code; codeSum guards the file (see keptSum).
	path    string
	code    []byte
	codeSum keptSum

	// Guarded by runtime.mu.
	refs     int
	compiled wazero.CompiledModule // nil while evicted
	// codeBytes is the size of compiled's code when it is listed to be
	// mapped from a file (codefile.go), whose resident pages eviction may
	// drop instead of closing the module; 0 otherwise. codeDropped says
	// it did, and that no instance has started since: the module is
	// charged without its code (charge).
	codeBytes   int64
	codeDropped bool
	// init is the data segments compiled's instances are written, nil
	// when wazero writes them (datainit.go); dropped with compiled. Its
	// bytes replace wazero's copy of them, which the measure behind
	// compiledCostPerCodeByte included, and are the kept bytes' own
	// (placeData).
	init      *dataInit
	compiling chan struct{} // closed when a compilation in progress ends
	live      int           // instances not yet closed
	lastUsed  uint64        // runtime.clock at the last use
	// idleSince is when the module last had no live instance after a
	// use, and idleUnload the timer that unloads it after
	// Config.CompiledIdleUnload from then (eviction.go).
	idleSince  time.Time
	idleUnload *time.Timer
	// reconcilers are the names CheckReconciler found the guest holds.
	// Refusals are not kept: each is a permanent load failure of its
	// controller, asked again only after a change of its spec, and a
	// hostile guest could fill the map with them.
	reconcilers map[string]struct{}

	// templates are the module's initialized memories by name and
	// environment (template.go), dropped with its compiled code.
	templates map[templateKey]*memoryTemplate
	// noTemplates says that a template could not be applied to an
	// instance of the module, or its memory is too scattered for one: it
	// captures no more of them.
	noTemplates bool
	// captureAfter is when the module may try again to capture a template
	// that did not fit the budget.
	captureAfter time.Time

	// spares are the instances built ahead of wakes (spare.go), by what
	// they were built with; sparing are those being built, which
	// spareBuilds counts for release to wait for.
	spares      map[spareKey]*spare
	sparing     map[spareKey]bool
	spareBuilds sync.WaitGroup
}

// compiledCostPerCodeByte estimates the resident size of a module's
// compiled code, and everything else wazero keeps for it, from the size of
// its code section: 8.5 bytes per byte. Measured with BenchmarkMemory
// (docs/benchmarks.md): 20.4 MB of RSS for the echo guest's 2.31 MB code
// section (8.8), 306 MB for the client-go guest's 36.7 MB (8.3).
func compiledCostPerCodeByte(codeBytes int) int64 {
	return int64(codeBytes) * 17 / 2
}

// charge is what m's compiled code counts against the budget: its
// estimated cost, less its code while eviction has dropped that code's
// pages (evictLocked). r.mu must be held.
func (m *Module) charge() int64 {
	if m.codeDropped {
		return m.cost - m.codeBytes
	}
	return m.cost
}

// keptSum guards the bytes a module compiles again from against damage:
// their size and CRC-32C, recorded when they are kept. It is not a
// cryptographic digest, and needs not be one: the file sits beside
// wazero's compilation cache, whose entries hold native code that wazero
// itself checks with a CRC-32C only, so whoever could forge one could
// forge the other. What it must catch is a truncated, torn or overwritten
// file, and a CRC-32C catches that for a fraction of a SHA-256's time on
// every reload (docs/RATIONALE.md).
type keptSum struct {
	size int
	crc  uint32
}

// sumKept sums code for keptSum. crc32 computes CRC-32C in hardware where
// the CPU can, and makes its table once.
func sumKept(code []byte) keptSum {
	return keptSum{size: len(code), crc: crc32.Checksum(code, crc32.MakeTable(crc32.Castagnoli))}
}

// keepCode keeps the compiled bytes for compiling again after eviction: in
// the cache dir when there is one, otherwise in memory. The file is only
// ever replaced whole (writeFileAtomic) or removed, never written in place
// or truncated: the module's data segments are read from a mapping of it
// (placeData).
func (m *Module) keepCode(code []byte) error {
	m.codeSum = sumKept(code)
	if m.runtime.cfg.CacheDir == "" {
		m.code = code
		return nil
	}
	m.path = filepath.Join(m.runtime.cfg.CacheDir, modulesDir, strings.TrimPrefix(m.Digest, "sha256:")+".wasm")
	if err := writeKeptFile(m.path, func(f *os.File) error {
		_, err := f.Write(code)
		return err
	}); err != nil {
		return &StorageError{Op: fmt.Sprintf("module[%s]: keeping its bytes", m.Digest), Err: err}
	}
	return nil
}

// readCode returns the kept compiled bytes.
func (m *Module) readCode() ([]byte, error) {
	if m.path == "" {
		return m.code, nil
	}
	code, err := os.ReadFile(m.path)
	if err != nil {
		return nil, &StorageError{Op: fmt.Sprintf("module[%s]: reading its kept bytes", m.Digest), Err: err}
	}
	if sum := sumKept(code); sum != m.codeSum {
		return nil, &StorageError{Op: fmt.Sprintf("module[%s]: reading its kept bytes", m.Digest),
			Err: fmt.Errorf("%s changed (%d bytes, crc32c %08x; kept %d bytes, crc32c %08x)", m.path, sum.size, sum.crc, m.codeSum.size, m.codeSum.crc)}
	}
	return code, nil
}

// deriveCode derives the module's kept bytes again from its original
// bytes (Config.Source), checks that they are the ones kept at load, and
// keeps them again.
func (m *Module) deriveCode(ctx context.Context) ([]byte, error) {
	r := m.runtime
	if r.cfg.Source == nil {
		return nil, errors.New("no source of module bytes is configured")
	}
	wasm, err := r.cfg.Source(ctx, m.Digest)
	if err != nil {
		return nil, err
	}
	if d := wasmmodule.Digest(wasm); d != m.Digest {
		return nil, fmt.Errorf("the source returned module[%s] for module[%s]", d, m.Digest)
	}
	scratch := &Module{runtime: r, Digest: m.Digest} // rewrite sets fields m has already
	code, err := scratch.rewrite(wasm, !r.keepDataSegments, r.interruptible)
	if err != nil {
		return nil, err
	}
	if sumKept(code) != m.codeSum {
		return nil, errors.New("the bytes derived again differ from those kept at load")
	}
	if m.path != "" {
		if err := writeKeptFile(m.path, func(f *os.File) error {
			_, err := f.Write(code)
			return err
		}); err != nil {
			// Compiled from memory this time; derived again next time.
			klog.ErrorS(err, "Keeping a module's bytes again failed", "digest", m.Digest)
		}
	}
	return code, nil
}

// acquire returns the compiled module and the data segments its instances
// must be written (nil: wazero writes them), compiling it again if it was
// evicted, and counts one more live instance when forInstance is set (the
// caller must then call instanceDone once).
func (m *Module) acquire(ctx context.Context, forInstance bool) (wazero.CompiledModule, *dataInit, error) {
	r := m.runtime
	for {
		r.mu.Lock()
		if m.refs <= 0 {
			r.mu.Unlock()
			return nil, nil, fmt.Errorf("module[%s] was released", m.Digest)
		}
		if c := m.compiled; c != nil {
			var ev []evicted
			if m.codeDropped {
				// Its code comes back as it runs: charged in full
				// again, and the budget made to fit.
				r.chargeCodeLocked(m)
				ev = r.evictLocked(m, forInstance)
			}
			if forInstance {
				m.live++
			}
			m.lastUsed = r.tick()
			r.armIdleUnloadLocked(m) // unless an instance lives
			init := m.init
			r.unlockEvicting(ctx, ev, forInstance)
			return c, init, nil
		}
		if wait := m.compiling; wait != nil {
			r.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		m.compiling = done
		r.mu.Unlock()

		start := time.Now()
		compiled, init, err := m.compile(ctx)
		var codeBytes int64
		if err == nil {
			r.metrics.reloaded(m.overBudget(), time.Since(start))
			codeBytes = listedCodeBytes(compiled)
		}

		r.mu.Lock()
		m.compiling = nil
		close(done)
		if err != nil {
			r.mu.Unlock()
			return nil, nil, err
		}
		if m.refs <= 0 { // released while compiling
			r.mu.Unlock()
			closeCompiled(context.WithoutCancel(ctx), compiled)
			return nil, nil, fmt.Errorf("module[%s] was released", m.Digest)
		}
		m.compiled, m.init = compiled, init
		m.codeBytes, m.codeDropped = codeBytes, false
		r.compiledBytes += m.cost
		if forInstance {
			m.live++
		}
		m.lastUsed = r.tick()
		ev := r.evictLocked(m, forInstance && m.codeBytes > 0)
		r.armIdleUnloadLocked(m)
		r.unlockEvicting(ctx, ev, forInstance)
		return compiled, init, nil
	}
}

func (m *Module) compile(ctx context.Context) (wazero.CompiledModule, *dataInit, error) {
	code, err := m.readCode()
	if err != nil {
		healed, herr := m.deriveCode(ctx)
		if herr != nil {
			klog.ErrorS(herr, "Deriving a module's kept bytes again failed", "digest", m.Digest)
			return nil, nil, err
		}
		klog.InfoS("Derived a module's lost or damaged kept bytes again from its source", "digest", m.Digest, "cause", err.Error())
		code = healed
	}
	compiled, init, err := m.runtime.compileKept(ctx, code)
	if err != nil {
		return nil, nil, fmt.Errorf("module[%s]: compiling again after eviction: %w", m.Digest, err)
	}
	if err := guard("placing data segments", func() error {
		m.placeData(init, code)
		return nil
	}); err != nil {
		closeCompiled(context.WithoutCancel(ctx), compiled)
		return nil, nil, fmt.Errorf("module[%s]: compiling again after eviction: %w", m.Digest, err)
	}
	return compiled, init, nil
}

// instanceDone counts one live instance less, and lets eviction take the
// compiled code if the runtime is over its budget.
func (m *Module) instanceDone(ctx context.Context) {
	r := m.runtime
	r.mu.Lock()
	m.live--
	var ev []evicted
	if m.live == 0 {
		ev = r.evictLocked(nil, false)
		r.armIdleUnloadLocked(m) // unless evicted
	}
	r.unlockEvicting(ctx, ev, false)
}

// Warm makes sure the module's compiled code is resident, compiling it
// again if it was evicted, so that the next Instantiate or Restore does not
// pay for it. It counts as a use for eviction order.
//
// # Errors
//
// When the module was released, or compiling fails; a *StorageError
// (retryable, errors.Is(err, ErrStorage)) when its kept bytes cannot be
// read or the compilation cache fails; ctx's error when it is done while waiting for another
// compilation of the module.
func (m *Module) Warm(ctx context.Context) error {
	_, _, err := m.acquire(ctx, false)
	return err
}

// Resident reports whether the module's compiled code is in memory: it was
// not evicted, or was compiled again since.
func (m *Module) Resident() bool {
	m.runtime.mu.Lock()
	defer m.runtime.mu.Unlock()
	return m.compiled != nil
}

// Release drops one reference; the compiled code and the kept bytes are
// freed with the last. Instances already running keep working until
// closed.
func (m *Module) Release(ctx context.Context) {
	m.runtime.release(ctx, m)
}

// writeFileAtomic writes a file through write, readable only by its owner:
// to a temporary file in the same directory, synced, then renamed over
// path, so that path holds either the old content or all of the new, even
// after the machine crashes.
func writeFileAtomic(path string, write func(*os.File) error) error {
	return writeFileReplacing(path, true, write)
}

// writeFileReplacing is writeFileAtomic when durable. Otherwise nothing is
// synced and the new file takes the old one's place by replaceFile: path
// holds the old content or the new while the machine runs (a reader sees
// one or the other, never a mix), but after a crash of the machine it may
// hold the new file with some of its pages lost. That is only for files
// whose content is checked before it is trusted (snapshots, whose pages
// are verified the first time a process restores them).
func writeFileReplacing(path string, durable bool, write func(*os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if err = write(f); err != nil {
		return err
	}
	if durable {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if !durable {
		return replaceFile(f.Name(), path)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; not every file system can sync a
	// directory, and the file is complete either way.
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return nil
}
