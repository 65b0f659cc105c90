package runtime

import (
	"errors"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// madvPopulateWrite is Linux's MADV_POPULATE_WRITE (5.14 and later).
const madvPopulateWrite = 23

// hugePages asks for transparent huge pages on a mapping.
func hugePages(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }

// populate backs the pages of b, part of a mapping, in one call. Touching
// them one by one costs a page fault each, which on a virtual machine made
// a small guest's init (3.4 MB) ten times slower than on pages the Go heap
// had already faulted in. An older kernel refuses the advice; the pages are
// then faulted in as the guest touches them.
func populate(b []byte) { populateWrite(b) }

// populateWriteRefused is set once the kernel refused MADV_POPULATE_WRITE
// as an advice it does not know, so that it is not asked again.
var populateWriteRefused atomic.Bool

// populateWrite makes the pages of b, part of a mapping, the process's own
// in one call, as writing to each would: a page of a file mapped private is
// copied, any other backed. It reports whether the kernel did.
func populateWrite(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if populateWriteRefused.Load() {
		return false
	}
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), madvPopulateWrite)
	if errno == 0 {
		return true
	}
	if errors.Is(errno, syscall.EINVAL) {
		populateWriteRefused.Store(true)
	}
	return false
}
