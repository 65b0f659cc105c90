package runtime

import (
	"context"
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
//   - Pages mapped from a file (a template's or a snapshot's) are kept: on
//     such a mapping the OS would give back the file's bytes, not zeros.
//
// # Errors
//
// The errors of Reconcile when the guest traps, times out, exits or runs
// out of memory in compact: the instance has been closed. ErrClosed when it
// was closed before.
func (i *Instance) Compact(ctx context.Context) (uint64, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return 0, ErrClosed
	}
	if fn := i.module.ExportedFunction(abi.CompactExport); fn != nil &&
		uint64(i.module.Memory().Size())+compactHeadroom <= i.cfg.MemoryLimit {
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
	if m == nil || !m.mapped || m.lazy || m.scratch != nil {
		return 0, nil
	}
	return releaseZeroPages(m.buf), nil
}
