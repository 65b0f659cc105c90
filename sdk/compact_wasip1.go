//go:build wasip1

package sdk

import "runtime"

// A Go guest never gives memory back: linear memory cannot shrink, and
// Go's runtime for wasip1 neither releases nor zeroes the heap pages it
// frees (its sysUnused is a no-op), so after a burst the pages of dead
// objects keep their bytes and the host cannot tell them from live ones.
// The compact export (docs/abi.md) asks the guest to zero them: after a
// collection, it allocates page-sized objects from the free heap pages,
// which the allocator zeroes because they were used before, and drops
// them. Every whole free page then reads as zero, and the host gives those
// pages back to the OS.

// compactChunk is the size of the objects the free pages are zeroed with:
// one heap page, so that any free page serves one and fragmented free
// space never makes the heap grow.
const compactChunk = 8 << 10

// compactMargin is the free heap left unzeroed, so that the bookkeeping of
// the objects held (their slice, the GC's) never needs a fresh heap page.
const compactMargin = 256 << 10

// compactMaxGrowth bounds how much linear memory may grow while free pages
// are zeroed, in 64 KiB pages: the heap does not grow, but each object
// held needs a span structure, which the runtime takes outside the heap, a
// 256 KiB block at a time. The structures are reused once the objects are
// dropped, so later compactions need no more.
const compactMaxGrowth = 4

// compactMinAllocs is how much the guest must have allocated since its
// last compaction for another to zero anything: only pages allocated since
// can hold bytes again, and zeroing touches every free page, which brings
// back the pages the host gave back.
const compactMinAllocs = 1 << 20

// compactedAt is what the guest had allocated (MemStats.TotalAlloc) when
// its last compaction ended; 0 before the first.
var compactedAt uint64

// compactExport is the entry point the host calls, between reconciles, to
// have the guest zero its free heap pages, so that the host can give them
// back to the OS.
//
//go:wasmexport compact
func compactExport() {
	compactHeap()
}

// compactHeap zeroes the guest's free heap pages, growing its memory by at
// most compactMaxGrowth.
func compactHeap() {
	limit := memoryPages() + compactMaxGrowth
	// ReadMemStats, unlike runtime/metrics, needs no memory of its own.
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	if compactedAt != 0 && stats.TotalAlloc-compactedAt < compactMinAllocs {
		return
	}
	defer func() {
		runtime.ReadMemStats(&stats)
		compactedAt = stats.TotalAlloc
	}()
	runtime.GC()
	runtime.ReadMemStats(&stats)
	if stats.HeapIdle <= compactMargin+compactChunk {
		return
	}
	// The slice holding the chunks takes free heap too: 24 bytes each.
	n := (stats.HeapIdle - compactMargin) / (compactChunk + 24)
	held := make([][]byte, 0, n)
	for range n {
		held = append(held, make([]byte, compactChunk))
		if memoryPages() > limit {
			break
		}
	}
	clear(held)
	runtime.GC()
}

// memoryPages is the size of the guest's linear memory, in 64 KiB pages
// (the memory.size instruction, compact_wasip1_wasm.s).
func memoryPages() uint32
