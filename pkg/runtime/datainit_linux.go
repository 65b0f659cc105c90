package runtime

import (
	"bytes"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// mapFrom points the segments' bytes at a read-only mapping of path, the
// kept file of the module, which must hold code, the bytes just compiled,
// where the segments are; the mapping is undone once d is unreachable. A
// file that has changed since is not used: its bytes are compared with
// code's. Like snapshot and image files, a kept file is replaced, never
// written in place or truncated, so the mapping stays what was compared.
func (d *dataInit) mapFrom(path string, code []byte) error {
	lo, hi := d.span()
	if hi <= lo {
		return nil // nothing to write
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != int64(len(code)) {
		return fmt.Errorf("%s holds %d bytes, not the %d compiled", path, fi.Size(), len(code))
	}
	page := os.Getpagesize()
	start := lo / page * page
	mapping, err := unix.Mmap(int(f.Fd()), int64(start), hi-start, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping %s: %w", path, err)
	}
	if !bytes.Equal(mapping[lo-start:], code[lo:hi]) {
		_ = unix.Munmap(mapping)
		return fmt.Errorf("%s differs from the bytes compiled", path)
	}
	for i := range d.segs {
		if len(d.segs[i].data) == 0 {
			continue
		}
		at := d.at[i] - start
		d.segs[i].data = mapping[at : at+len(d.segs[i].data) : at+len(d.segs[i].data)]
	}
	d.mapped = mapping
	forgetPages(mapping)
	runtime.AddCleanup(d, func(b []byte) { _ = unix.Munmap(b) }, mapping)
	return nil
}

// forgetPages drops the process's page table entries for b, a read-only
// mapping of a file: its pages stay in the page cache, and are read from
// it again at the next touch.
func forgetPages(b []byte) {
	if len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_DONTNEED)
	}
}
