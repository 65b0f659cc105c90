package runtime

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Templates and snapshots are files mapped over a guest's own memory
// mapping: the runs of pages that are not zero from the file, the pages
// between them given back to read as zero.

// errUnmapped says that a failed mapping left part of a guest's memory
// unmapped: nothing may touch that memory again (a fault there would end
// the process), only free it.
var errUnmapped = errors.New("guest memory left unmapped")

// mapRun maps len(b) bytes of the file fd at off over b, private and
// copy-on-write. A failed fixed mapping may have unmapped b already, and
// another mapping could then land inside the guest's memory, to be
// unmapped with it when it is freed: so on failure b is taken back as
// anonymous memory (and a mapping made elsewhere is undone).
func mapRun(fd int, off int64, b []byte) error {
	addr := unsafe.Pointer(unsafe.SliceData(b))
	got, err := unix.MmapPtr(fd, off, addr, uintptr(len(b)), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	if err == nil && got == addr {
		return nil
	}
	if err == nil {
		_ = unix.Munmap(unsafe.Slice((*byte)(got), len(b)))
		err = fmt.Errorf("mapped at %p, not %p", got, addr)
	}
	if aerr := mapAnonymous(b); aerr != nil { // wraps errUnmapped
		return fmt.Errorf("%w, then %w", err, aerr)
	}
	return fmt.Errorf("mapping a file over guest memory: %w", err)
}

// giveBack gives the pages of b, part of a private anonymous mapping, back
// to the OS: they read as zero again.
func giveBack(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("clearing memory for the template: %w", err)
	}
	return nil
}

// mapAnonymous maps private anonymous memory over b, which reads as zero,
// with the protection of guest memory. The pages are not to become part
// of a huge page again (khugepaged would fill them). When the mapping
// fails b may already be unmapped: it is tried once more, then reported
// with errUnmapped.
func mapAnonymous(b []byte) error {
	addr := unsafe.Pointer(unsafe.SliceData(b))
	var err error
	for range 2 {
		// A fixed mapping is at addr or fails.
		if _, err = unix.MmapPtr(-1, 0, addr, uintptr(len(b)), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE); err == nil {
			_ = unix.Madvise(b, unix.MADV_NOHUGEPAGE)
			return nil
		}
	}
	return fmt.Errorf("%w: giving back zero pages: %w", errUnmapped, err)
}
