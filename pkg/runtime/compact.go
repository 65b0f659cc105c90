package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// Linear memory never shrinks, and a Go guest's runtime neither releases
// nor zeroes the heap pages it frees: after a burst, a warm guest keeps its
// heap's high-water mark resident. Compact asks the guest to zero the
// memory it holds free (the optional compact export, docs/abi.md), then
// gives every page of the guest's memory that reads as zero back to the
// OS. A zero page given back reads as zero again, so the guest sees no
// difference; it costs a page fault when the guest next touches it.

// compactPage is the unit in which memory is given back: the OS's page.
const compactPage = 4 << 10

// compactTimeout bounds the guest's compact export: zeroing the free heap
// of a large guest takes tens of milliseconds, and a guest that sleeps or
// loops there must not hold the host's few compaction slots.
const compactTimeout = time.Second

// compactHeadroom is the memory below its limit a guest must have for the
// host to call its compact export: zeroing its free heap may grow its
// memory by a chunk of Go's heap (4 MiB), and a guest near its limit would
// run out of memory for an optimization.
const compactHeadroom = 8 << 20

// Compact asks the guest to zero its free memory, if it exports compact,
// and gives the pages of its linear memory that are all zero back to the
// OS. It returns how many bytes it gave back. A guest that does not export
// compact gets the zero pages it has given back all the same.
//
// The guest's call is bounded as its initialization is: by ctx and the
// instance's InitTimeout.
//
// # Notes
//
//   - Only memory that is a mapping of the instance's own is given back
//     (on Linux); a guest whose memory is a Go slice gives nothing back.
//   - Pages mapped from a file (a template's or a snapshot's) that the
//     guest wrote and that read as zero are given back by mapping
//     anonymous memory over them, within bounds on the process's mappings
//     (compact_remap_linux.go). Past them, a guest whose resident memory
//     is mostly mapped from files is not asked to zero its free memory:
//     zeroing would copy the files' pages, to be kept.
//
// # Errors
//
// The errors of Reconcile when the guest traps, times out, exits or runs
// out of memory in compact: the instance has been closed. ErrClosed when it
// was closed before. An error when giving pages back left the memory
// unusable: the instance has been closed too.
func (i *Instance) Compact(ctx context.Context) (uint64, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return 0, ErrClosed
	}
	if fn := i.module.ExportedFunction(abi.CompactExport); fn != nil &&
		uint64(i.module.Memory().Size())+compactHeadroom <= i.cfg.MemoryLimit &&
		(!i.memoryBuf.givesBack() || i.memoryBuf.zeroingPays()) {
		ctx, cancel := context.WithTimeout(ctx, min(i.cfg.InitTimeout, compactTimeout))
		defer cancel()
		// No reconcile runs: the guest may log, its other host calls
		// fail with EINVAL, as during initialization.
		ctx = withInstance(ctx, i)
		i.callCtx = ctx
		_, err := fn.Call(ctx)
		i.callCtx = nil
		if err != nil {
			return 0, i.classify(ctx, err, "compacting its memory")
		}
		i.memory.Store(uint64(i.module.Memory().Size()))
	}
	m := i.memoryBuf
	if !m.givesBack() {
		return 0, nil
	}
	released, remapped, err := releaseZeroPages(m.buf, m.remapsLeft())
	m.chargeRemaps(remapped)
	if remapped > 0 {
		i.restoredRuns = nil // zero pages now where the runs said a file's
	}
	if err != nil {
		i.closeLocked(ctx)
		return released, fmt.Errorf("compacting memory: %w", err)
	}
	return released, nil
}

// givesBack says whether m is a mapping of its own whose zero pages can be
// given back.
func (m *limitedMemory) givesBack() bool {
	return m != nil && m.mapped && !m.lazy && m.scratch == nil
}

// zeroingPays says whether the guest's zeroing of its free memory can
// lower what m holds resident: unless the pages it would copy from files
// can be given back (remapsLeft), only when more of its resident memory is
// anonymous than mapped from files. It says no when it cannot tell.
func (m *limitedMemory) zeroingPays() bool {
	if m.remapsLeft() >= maxCompactRemaps {
		return true
	}
	anonymous, file, err := residentSplit(m.buf)
	return err == nil && anonymous > file
}

// remapsLeft is how many runs of file-mapped pages the next compaction of
// m may replace with anonymous memory: maxCompactRemaps, within what is
// left of maxMemoryRemaps and of the process's maxLiveMappedRuns.
// Compactions under way at once may pass the latter by their remaps.
func (m *limitedMemory) remapsLeft() int {
	if m.mappedRuns == nil {
		return 0
	}
	return int(max(0, min(maxCompactRemaps, maxMemoryRemaps-int64(m.remaps), maxLiveMappedRuns-m.mappedRuns.Load())))
}

// chargeRemaps counts n runs replaced with anonymous memory as runs of
// files mapped into m: each may split its mapping, until m is freed.
func (m *limitedMemory) chargeRemaps(n int) {
	if n == 0 || m.mappedRuns == nil {
		return
	}
	m.remaps += n
	m.runs += int64(n)
	m.mappedRuns.Add(int64(n))
}
