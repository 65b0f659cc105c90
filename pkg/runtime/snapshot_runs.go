package runtime

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
)

// snapshotRunsOf returns the runs of mem, whose length is a multiple of
// snapshotPage, that are not zero, and the exact extents to store. Pages
// that img (nil for none) holds are image runs, the others stored runs;
// runs of one kind are merged across gaps of at most snapshotGap zero
// pages (image runs only where the image is zero too).
func snapshotRunsOf(mem []byte, img *memoryImage, hints []pageHint) (runs, extents []snapshotRun) {
	zero := make([]byte, snapshotPage)
	size := uint64(len(mem))
	if len(hints) != int(size/snapshotPage) {
		hints = nil
	}
	kind := func(off uint64) (nonzero, image bool) {
		p := int(off / snapshotPage)
		hint := hintNone
		if hints != nil {
			hint = hints[p]
		}
		switch hint {
		case hintZero:
			return false, false
		case hintImage:
			return true, true
		}
		page := mem[off : off+snapshotPage]
		if bytes.Equal(page, zero) {
			return false, false
		}
		return true, hint == hintNone && img != nil && img.holds(p, page)
	}
	for off := uint64(0); off < size; {
		nonzero, image := kind(off)
		if !nonzero {
			off += snapshotPage
			continue
		}
		end := off + snapshotPage
		for end < size {
			if nz, im := kind(end); !nz || im != image {
				break
			}
			end += snapshotPage
		}
		if !image {
			extents = append(extents, snapshotRun{off: off, len: end - off})
		}
		// Between the last run and this one, memory is zero.
		if n := len(runs); n > 0 && runs[n-1].image == image &&
			off-(runs[n-1].off+runs[n-1].len) <= snapshotGap*snapshotPage &&
			(!image || img.zeroBetween(runs[n-1].off+runs[n-1].len, off)) {
			runs[n-1].len = end - runs[n-1].off
		} else {
			runs = append(runs, snapshotRun{off: off, len: end - off, image: image})
		}
		off = end
	}
	return runs, extents
}

// zeroBetween says whether the image is zero from byte from to byte to,
// both multiples of snapshotPage.
func (img *memoryImage) zeroBetween(from, to uint64) bool {
	for c := from / snapshotPage; c < to/snapshotPage && c < uint64(len(img.chunks)); c++ {
		if img.chunks[c] != ([sha256.Size]byte{}) {
			return false
		}
	}
	return true
}

// readRuns reads the runs of a version 3 or 4 snapshot into mem, the stored
// ones from src and the image ones from img (nil: there must be none).
// mem has the snapshot's memory size and holds a fresh instance's memory:
// the module's image below dirty, zero above it. Memory outside the runs
// below dirty is cleared. With verify, the stored pages must match the
// header's digest (img is checked when opened).
func readRuns(src io.ReaderAt, img *memoryImageFile, s *snapshot, mem []byte, dirty uint64, verify bool) error {
	if uint64(len(mem)) != s.memory {
		return invalid("memory of %d bytes, want %d", len(mem), s.memory)
	}
	clearBelow := func(from, to uint64) {
		if to = min(to, dirty); from < to {
			clear(mem[from:to])
		}
	}
	h := sha256.New()
	var done uint64
	for _, r := range s.runs {
		clearBelow(done, r.off)
		run := mem[r.off : r.off+r.len]
		from, at := src, int64(s.dataOffset+r.off)
		if r.image {
			if img == nil || r.off+r.len > img.size {
				return invalid("run at page %d is outside the module's memory image", r.off/snapshotPage)
			}
			from, at = img.f, int64(img.data+r.off)
		}
		if _, err := from.ReadAt(run, at); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return invalid("pages end early at page %d", r.off/snapshotPage)
			}
			return fmt.Errorf("reading snapshot: %w", err)
		}
		if verify && !r.image {
			h.Write(run)
		}
		done = r.off + r.len
	}
	clearBelow(done, s.memory)
	if verify && !bytes.Equal(h.Sum(nil), s.pagesDigest[:]) {
		return invalid("pages checksum mismatch (corrupt)")
	}
	return nil
}
