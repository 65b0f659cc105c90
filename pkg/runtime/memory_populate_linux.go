package runtime

import (
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
func populate(b []byte) {
	if len(b) == 0 {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), madvPopulateWrite)
}
