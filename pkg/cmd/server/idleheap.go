package server

import (
	"errors"
	"fmt"
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
// heap's garbage and free pages, then the resident pages of the modules'
// compiled code mapped from files (codePages, runtime.ReleaseCodePages),
// then its executable's resident pages (execPages, releaseExecutablePages).
// The heap goes first and the executable last: collecting and reading
// /proc run the server's code, which would map pages of the executable
// again.
//
// Once releasing the executable's pages fails (it fails for good: /proc
// unreadable, madvise refused), the release returns that error once and
// gives back only the rest from then on; the same holds for the modules'
// code.
func idleMemoryRelease(execPages func() (pageRelease, error), codePages func() (int64, error)) func() (pageRelease, error) {
	var execFailed, codeFailed bool
	return func() (pageRelease, error) {
		heap := releaseFreeHeap()
		var codeErr error
		var code int64
		if !codeFailed {
			code, codeErr = codePages()
			codeFailed = codeErr != nil
			if codeErr != nil {
				codeErr = fmt.Errorf("modules' compiled code: %w", codeErr)
			}
		}
		r := pageRelease{}
		var execErr error
		if !execFailed {
			r, execErr = execPages()
			execFailed = execErr != nil
		}
		r.heapKiB, r.moduleCodeKiB = heap, code/1024
		return r, errors.Join(execErr, codeErr)
	}
}
