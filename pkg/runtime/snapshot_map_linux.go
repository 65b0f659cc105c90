package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// canMapSnapshots says that snapshots are mapped here rather than read.
const canMapSnapshots = true

// mapRuns makes buf, a whole guest memory inside its own anonymous
// mapping, read as the version 3 or 4 snapshot in f: each run is mapped from
// the file, or from the module's image file img for an image run, private
// and copy-on-write, and the pages between runs are given back, to read as
// zero. A page is read from the file, or copied,
// only when the guest touches it.
//
// The file must never change or shrink while it is mapped: a page the
// guest has not copied yet would show the change, and one past a shorter
// file's end would fault the whole process (SIGBUS). Snapshot files are
// therefore only ever created whole and renamed into place, never written
// to or truncated after (writeFileReplacing).
func mapRuns(f *os.File, img *memoryImageFile, s *snapshot, buf []byte) error {
	if uint64(len(buf)) != s.memory {
		return fmt.Errorf("memory of %d bytes for a snapshot of %d", len(buf), s.memory)
	}
	var done uint64 // buf[:done] is done
	for _, r := range s.runs {
		if err := giveBack(buf[done:r.off]); err != nil {
			return err
		}
		fd, off := int(f.Fd()), int64(s.dataOffset+r.off)
		if r.image {
			// The image file's size was checked when it was opened.
			if img == nil || r.off+r.len > img.size {
				return fmt.Errorf("run at page %d is outside the module's memory image", r.off/snapshotPage)
			}
			fd, off = int(img.f.Fd()), int64(img.data+r.off)
		}
		if err := mapRun(fd, off, buf[r.off:r.off+r.len]); err != nil {
			return err
		}
		done = r.off + r.len
	}
	return giveBack(buf[done:])
}

// madvPopulateRead is Linux's MADV_POPULATE_READ (5.14 and later).
const madvPopulateRead = 22

// populateRead maps the pages of b, a mapping of a file, in one call
// rather than a page fault each; an older kernel refuses the advice.
func populateRead(b []byte) {
	_ = unix.Madvise(b, madvPopulateRead)
}
