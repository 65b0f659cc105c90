package runtime

import (
	"bytes"
	"fmt"
	"slices"
)

// A guest started from a template or restored from a snapshot has its
// memory mapped, private and copy-on-write, from the template's or the
// snapshot's files. A free page the guest zeroes there becomes its own
// copy of the file's page, full of zeros: MADV_DONTNEED would bring the
// file's bytes back, not zeros, so such pages are given back by mapping
// anonymous memory over them, which reads as zero. Each run so mapped may
// split a mapping in three: runs are charged as the files' runs are
// (maxLiveMappedRuns), and bounded per compaction and per memory.

// maxCompactRemaps bounds the runs of file-mapped pages one compaction
// replaces with anonymous memory: the largest runs go first.
const maxCompactRemaps = 32

// maxMemoryRemaps bounds the runs replaced over a memory's life, so that
// one guest cannot take the whole process's share of mappings.
const maxMemoryRemaps = 256

// copiedPages says, for each page of b, whether it is present and the
// process's own copy (anonymous memory), not a page of the file mapped
// there.
func copiedPages(b []byte) ([]bool, error) {
	entries, err := pagemapEntries(b)
	if err != nil {
		return nil, fmt.Errorf("reading the page map: %w", err)
	}
	out := make([]bool, len(entries))
	for p, e := range entries {
		out[p] = e&pagemapPresent != 0 && e&pagemapFile == 0
	}
	return out, nil
}

// zeroCopiedRuns returns the maximal runs, as [start, end) page offsets in
// mem, of pages within the file ranges that are the process's own copies
// and all zero, the longest first.
func zeroCopiedRuns(mem []byte, base uintptr, file addressRanges) ([][2]int, error) {
	zero := make([]byte, compactPage)
	var runs [][2]int
	for _, r := range file {
		first, end := int(r[0]-base)/compactPage, int(r[1]-base)/compactPage
		copied, err := copiedPages(mem[first*compactPage : end*compactPage])
		if err != nil {
			return nil, err
		}
		runStart := -1
		for k, c := range copied {
			p := first + k
			if c && bytes.Equal(mem[p*compactPage:(p+1)*compactPage], zero) {
				if runStart < 0 {
					runStart = p
				}
				continue
			}
			if runStart >= 0 {
				runs = append(runs, [2]int{runStart, p})
				runStart = -1
			}
		}
		if runStart >= 0 {
			runs = append(runs, [2]int{runStart, end})
		}
	}
	slices.SortStableFunc(runs, func(a, b [2]int) int { return (b[1] - b[0]) - (a[1] - a[0]) })
	return runs, nil
}

// remapZeroRuns maps anonymous memory over at most limit of the runs of
// zeroCopiedRuns, and returns how many bytes it gave back and how many
// runs it mapped. An error wrapping errUnmapped says that a failed mapping
// may have left part of mem unmapped.
func remapZeroRuns(mem []byte, base uintptr, file addressRanges, limit int) (uint64, int, error) {
	if limit <= 0 || len(file) == 0 {
		return 0, 0, nil
	}
	runs, err := zeroCopiedRuns(mem, base, file)
	if err != nil {
		return 0, 0, nil // nothing is known to be a copy: nothing is given back
	}
	var released uint64
	n := 0
	for _, r := range runs[:min(limit, len(runs))] {
		if err := mapAnonymous(mem[r[0]*compactPage : r[1]*compactPage]); err != nil {
			return released, n + 1, err
		}
		released += uint64(r[1]-r[0]) * compactPage
		n++
	}
	return released, n, nil
}
