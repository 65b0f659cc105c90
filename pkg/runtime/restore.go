package runtime

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// WriteSnapshot writes a snapshot of the guest to w: its linear memory
// (4 KiB chunks that are all zero, or still hold what the module's data
// segments wrote, are skipped; the rest is compressed), its mutable
// globals, its monotonic clock reading and the module's digest, in a
// versioned format with a checksum (version 1, see snapshot.go; a file
// to restore is better written by SaveSnapshot). It returns the bytes
// written. The guest must be between reconciles: WriteSnapshot waits for
// a running reconcile to end. The instance stays usable.
//
// # Errors
//
// ErrClosed when the instance is closed; an error saying why when the
// module cannot be snapshotted (Load found globals it cannot export) or
// when writing to w fails.
func (i *Instance) WriteSnapshot(w io.Writer) (int64, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	s, mem, err := i.snapshotLocked()
	if err != nil {
		return 0, err
	}
	return encodeSnapshot(w, s, mem, i.owner.image)
}

// snapshotLocked returns the guest's snapshot but for its memory, and its
// memory, valid while i.mu is held.
func (i *Instance) snapshotLocked() (*snapshot, []byte, error) {
	if i.closed {
		return nil, nil, ErrClosed
	}
	m := i.owner
	if m.snapshotErr != nil {
		return nil, nil, fmt.Errorf("module[%s] cannot be snapshotted: %w", m.Digest, m.snapshotErr)
	}
	s := &snapshot{
		digest:    m.Digest,
		monotonic: monotonicNow() + i.clockOffset,
		walltime:  time.Now().UnixNano(),
	}
	for _, g := range m.globals {
		exported := i.module.ExportedGlobal(g.exportName())
		if exported == nil {
			return nil, nil, fmt.Errorf("module[%s]: global %d is not exported", m.Digest, g.index)
		}
		s.globals = append(s.globals, snapshotGlobal{index: g.index, valueType: g.valueType, value: exported.Get()})
	}
	// Size is a u32, 0 for a whole 4 GiB: the page count tells.
	if pages, _ := i.module.Memory().Grow(0); uint64(pages)*wasmPage > maxMemory {
		return nil, nil, fmt.Errorf("module[%s]: memory of %d pages is larger than a snapshot holds", m.Digest, pages)
	}
	mem, ok := i.module.Memory().Read(0, i.module.Memory().Size())
	if !ok {
		return nil, nil, fmt.Errorf("module[%s]: reading memory", m.Digest)
	}
	return s, mem, nil
}

// Restore starts a guest from a snapshot written by WriteSnapshot (or a
// SaveSnapshot file, read whole and verified), without
// running its _initialize: memory and globals are as they were, so state
// the guest kept in memory survives. The guest's monotonic clock continues
// from the snapshot's reading, advanced by the wall time that passed since
// (never going back); its wall clock is the host's.
//
// The snapshot may come from another process, as long as the module's
// digest is the same. Environment variables the guest read during
// initialization keep the values they had then. A guest that selects its
// reconciler (a bundle) is asked to confirm that it runs the one
// cfg.Reconciler selects, so that a snapshot of another reconciler of the
// module is never resumed as this one.
//
// # Errors
//
// An error wrapping ErrSnapshotInvalid, with the reason, when r does not
// hold a valid snapshot of this module that fits cfg.MemoryLimit; nothing
// is left running then. A *ReconcilerError when the guest restored does not
// run the reconciler cfg.Reconciler selects. Other errors when reading r fails, the module was
// released, or its evicted code cannot be compiled again.
func (m *Module) Restore(ctx context.Context, cfg InstanceConfig, r io.Reader) (*Instance, error) {
	var s *snapshot
	err := guardSnapshot(func() error {
		var err error
		s, err = readSnapshot(r, min(cfg.MemoryLimit, maxMemory))
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.restoreSnapshot(ctx, cfg, s, false, func(inst *Instance) error {
		if mappedVersion(uint32(s.version)) {
			return inst.restoreV2(s, nil, false)
		}
		return inst.restore(s)
	})
}

// restoreSnapshot checks a parsed snapshot against the module and starts
// an instance that apply puts its memory and globals into; mapped says
// that apply maps the snapshot over the memory as it grows it.
func (m *Module) restoreSnapshot(ctx context.Context, cfg InstanceConfig, s *snapshot, mapped bool, apply func(*Instance) error) (*Instance, error) {
	if err := m.checkSnapshot(s, cfg.MemoryLimit); err != nil {
		return nil, err
	}
	elapsed := max(time.Now().UnixNano()-s.walltime, 0)
	inst, err := m.instantiate(ctx, cfg, s.monotonic+elapsed-monotonicNow(), max(s.memory, 1), mapped, nil)
	if err != nil {
		return nil, err
	}
	if err := guardSnapshot(func() error { return apply(inst) }); err != nil {
		inst.Close(ctx)
		return nil, err
	}
	if err := inst.confirmReconciler(ctx); err != nil {
		return nil, err
	}
	inst.memory.Store(s.memory)
	return inst, nil
}

// guardSnapshot runs a step that reads snapshot bytes and turns a panic in
// it into an error wrapping ErrSnapshotInvalid: a snapshot file is data a
// parser bug must not let crash the server.
func guardSnapshot(step func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = invalid("reading it failed: %v", p)
		}
	}()
	return step()
}

// checkSnapshot checks a parsed snapshot against the module and a memory
// limit.
func (m *Module) checkSnapshot(s *snapshot, memoryLimit uint64) error {
	if m.snapshotErr != nil {
		return fmt.Errorf("%w: module[%s] cannot be snapshotted: %w", ErrSnapshotInvalid, m.Digest, m.snapshotErr)
	}
	if s.digest != m.Digest {
		return invalid("taken of module %q, not %q", s.digest, m.Digest)
	}
	if s.version == snapshotVersion && s.image != m.image.digest {
		return invalid("taken with another memory image of the module (another host version?)")
	}
	if s.memory > memoryLimit {
		return invalid("memory of %d bytes is over the limit of %d", s.memory, memoryLimit)
	}
	if len(s.globals) != len(m.globals) {
		return invalid("%d mutable globals, the module has %d", len(s.globals), len(m.globals))
	}
	for k, g := range m.globals {
		if sg := s.globals[k]; sg.index != g.index || sg.valueType != g.valueType {
			return invalid("global %d of type %#x, the module's is %d of type %#x", sg.index, sg.valueType, g.index, g.valueType)
		}
	}
	return nil
}

// restore puts the snapshot's memory and globals into a new, uninitialized
// instance.
func (i *Instance) restore(s *snapshot) error {
	mem := i.module.Memory()
	initial := uint64(mem.Size())
	if s.memory < initial {
		return invalid("memory of %d bytes is smaller than the module's minimum of %d", s.memory, initial)
	}
	if s.memory > initial {
		if _, ok := mem.Grow(uint32((s.memory - initial) / wasmPage)); !ok {
			return invalid("memory of %d bytes cannot be allocated (module maximum or limit)", s.memory)
		}
	}
	buf, ok := mem.Read(0, uint32(s.memory))
	if !ok {
		return invalid("memory of %d bytes cannot be read back", s.memory)
	}
	// The data segments wrote to the initial memory; grown memory is zero.
	if err := decodePages(s, buf, initial); err != nil {
		return err
	}
	return i.restoreGlobals(s)
}

// restoreGlobals sets the module's mutable globals to the snapshot's.
func (i *Instance) restoreGlobals(s *snapshot) error {
	for _, g := range s.globals {
		exported, ok := i.module.ExportedGlobal(mutableGlobal{index: g.index}.exportName()).(api.MutableGlobal)
		if !ok {
			return invalid("global %d is not a mutable global of the module", g.index)
		}
		exported.Set(g.value)
	}
	return nil
}
