package server

import (
	"runtime/debug"
	"runtime/metrics"
)

// heapReleasedMetric is how much of the Go heap the runtime has given back
// to the OS and not used since.
const heapReleasedMetric = "/memory/classes/heap/released:bytes"

// releaseFreeHeap collects the Go heap's garbage and gives its free pages
// back to the OS at once, and returns how many KiB more of the heap it
// had given back afterwards.
//
// An idle server otherwise keeps what its last burst of work freed: the
// runtime collects once the heap has grown by GOGC (100%) over what was
// live, and its background scavenger gives back only what lies beyond the
// next collection's goal. Starting or changing controllers (compiling
// modules, their wake rules, listing their objects) leaves tens of MiB of
// garbage and free spans, about as much again as the live heap, resident
// until work comes again; the idle server has no use for them.
func releaseFreeHeap() int64 {
	before := heapReleasedBytes()
	debug.FreeOSMemory()
	if after := heapReleasedBytes(); after > before {
		return int64(after-before) / 1024
	}
	return 0
}

// heapReleasedBytes reads heapReleasedMetric.
func heapReleasedBytes() uint64 {
	s := []metrics.Sample{{Name: heapReleasedMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// idleMemoryRelease returns what the server gives back once quiet: the Go
// heap's garbage and free pages, then its executable's resident pages
// (execPages, releaseExecutablePages). The heap goes first: collecting runs
// the runtime's code, which would map pages of the executable again.
//
// Once releasing the executable's pages fails (it fails for good: /proc
// unreadable, madvise refused), the release returns that error once and
// gives back only the heap from then on.
func idleMemoryRelease(execPages func() (pageRelease, error)) func() (pageRelease, error) {
	var execFailed bool
	return func() (pageRelease, error) {
		heap := releaseFreeHeap()
		if execFailed {
			return pageRelease{heapKiB: heap}, nil
		}
		r, err := execPages()
		r.heapKiB = heap
		execFailed = err != nil
		return r, err
	}
}
