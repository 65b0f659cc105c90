package runtime

import (
	"crypto/sha256"
	"errors"
)

// What a snapshot can tell of a page without reading it. A restored
// instance whose snapshot was mapped (mapRuns) holds, in every page it has
// not written since, the bytes of the file mapped there: its snapshot's
// stored pages, the module's image, or zero where nothing was mapped. The
// kernel tells the pages written since (copied out of their file, or
// backed at all where no file is mapped) apart in /proc/self/pagemap
// (pagehints_linux.go); SaveSnapshot then reads and classifies only those,
// instead of comparing every page of the memory with zero and hashing it
// against the image.

// pageHint is what a page of a guest's memory is known to hold.
type pageHint uint8

const (
	// hintNone: not known; the page is read.
	hintNone pageHint = iota
	// hintZero: all zero.
	hintZero
	// hintImage: the module's image's page, which is never zero.
	hintImage
	// hintStored: not the image's; zero or not, the page is read.
	hintStored
)

// Bits of an entry of /proc/<pid>/pagemap (Documentation/admin-guide/mm/pagemap.rst).
const (
	pagemapPresent = 1 << 63
	pagemapSwapped = 1 << 62
	pagemapFile    = 1 << 61 // a file's page (or shared anonymous), not a private copy
)

// hintsOf returns the hint of each page of a memory of pages pages, from
// each page's pagemap entry (entries) and runs, the runs mapped over the
// memory, in order, when it was restored (the rest was left zero). img is
// what the new snapshot's image runs refer to: nil when it has none, so
// that the pages of image runs are stored. A page written since the
// restore (a private copy), or swapped out, is not known.
func hintsOf(entries []uint64, runs []snapshotRun, img *memoryImage) []pageHint {
	hints := make([]pageHint, len(entries))
	k := 0 // runs[:k] end before the page
	for p, e := range entries {
		off := uint64(p) * snapshotPage
		for k < len(runs) && runs[k].off+runs[k].len <= off {
			k++
		}
		inRun := k < len(runs) && runs[k].off <= off
		switch {
		case e&pagemapSwapped != 0:
			hints[p] = hintNone
		case !inRun:
			// Anonymous: zero until written, and backed once written.
			if e&pagemapPresent == 0 {
				hints[p] = hintZero
			}
		case e&pagemapPresent != 0 && e&pagemapFile == 0:
			hints[p] = hintNone // the guest's own copy
		case !runs[k].image:
			hints[p] = hintStored
		case img == nil:
			hints[p] = hintStored
		case p >= len(img.chunks) || img.chunks[p] == ([sha256.Size]byte{}):
			// Image runs span zero pages only where the image is zero.
			hints[p] = hintZero
		default:
			hints[p] = hintImage
		}
	}
	return hints
}

// errPageSize says that the kernel cannot tell the pages of a memory apart.
var errPageSize = errors.New("pages of the memory cannot be told apart")

// pageHints returns what each page of mem, the instance's memory, is known
// to hold, and the hot runs of a snapshot of it (snapshot_hot.go); nil for
// both when nothing is known: the instance was not restored by mapping a
// snapshot, or its compaction mapped over the runs since. img is the image
// the snapshot to be written refers to (nil for none). i.mu must be held.
func (i *Instance) pageHints(mem []byte, img *memoryImage) ([]pageHint, []hotRun) {
	if i.restoredRuns == nil || i.memoryBuf == nil || !i.memoryBuf.mapped || len(mem)%snapshotPage != 0 {
		return nil, nil
	}
	entries, err := pagemapEntries(mem)
	if err != nil {
		return nil, nil
	}
	return hintsOf(entries, i.restoredRuns, img), hotRunsOf(entries, i.prefaulted)
}
