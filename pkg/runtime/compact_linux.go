package runtime

import (
	"bufio"
	"bytes"
	"os"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// releaseZeroPages gives the pages of mem, the start of a mapping of the
// instance's own, that are resident and all zero back to the OS, in runs,
// and returns how many bytes it gave back and how many runs of file-mapped
// pages it replaced with anonymous memory, at most remaps.
//
// Pages that are not resident are not read (reading one would map a page
// for nothing). On a private file mapping MADV_DONTNEED would bring back
// the file's bytes, which need not be zero: there, only pages the guest
// wrote (its own copies) that are zero are given back, by mapping
// anonymous memory over them (compact_remap_linux.go). Nothing is given
// back when pages cannot be told apart. An error wrapping errUnmapped says
// that part of mem may be left unmapped.
func releaseZeroPages(mem []byte, remaps int) (uint64, int, error) {
	pages := len(mem) / compactPage
	if pages == 0 {
		return 0, 0, nil
	}
	mem = mem[:pages*compactPage]
	m, err := mapPages(mem)
	if err != nil {
		return 0, 0, nil
	}
	resident, base, anon, file := m.resident, m.base, m.anon, m.file
	zero := make([]byte, compactPage)
	var released uint64
	runStart := -1
	flush := func(end int) {
		if runStart >= 0 {
			if unix.Madvise(mem[runStart*compactPage:end*compactPage], unix.MADV_DONTNEED) == nil {
				released += uint64(end-runStart) * compactPage
			}
			runStart = -1
		}
	}
	for p := range pages {
		page := mem[p*compactPage : (p+1)*compactPage]
		addr := base + uintptr(p*compactPage)
		if resident[p]&1 == 0 || !anon.contains(addr, addr+compactPage) || !bytes.Equal(page, zero) {
			flush(p)
			continue
		}
		if runStart < 0 {
			runStart = p
		}
	}
	flush(pages)
	remapped, n, err := remapZeroRuns(mem, base, file, remaps)
	released += remapped
	if released > 0 && err == nil {
		// The mapping asked for transparent huge pages; khugepaged would
		// fill the pages given back again to collapse them into one.
		_ = unix.Madvise(mem[:cap(mem)], unix.MADV_NOHUGEPAGE)
	}
	return released, n, err
}

// residentSplit returns how much of mem, the start of a mapping of the
// instance's own, is resident in anonymous memory and in private mappings
// of files (by mincore, which counts a file's page while it is cached).
func residentSplit(mem []byte) (anonymous, file uint64, err error) {
	pages := len(mem) / compactPage
	if pages == 0 {
		return 0, 0, nil
	}
	m, err := mapPages(mem[:pages*compactPage])
	if err != nil {
		return 0, 0, err
	}
	base, anon, files := m.base, m.anon, m.file
	for p, r := range m.resident {
		addr := base + uintptr(p*compactPage)
		switch {
		case r&1 == 0:
		case anon.contains(addr, addr+compactPage):
			anonymous += compactPage
		case files.contains(addr, addr+compactPage):
			file += compactPage
		}
	}
	return anonymous, file, nil
}

// pageMap says of each page of a memory whether it is resident, and which
// of its ranges are anonymous and which private mappings of files.
type pageMap struct {
	resident   []byte // mincore's vector, a byte per page
	base       uintptr
	anon, file addressRanges
}

// mapPages reads the pageMap of mem, whose length is a whole number of
// pages.
func mapPages(mem []byte) (pageMap, error) {
	m := pageMap{resident: make([]byte, len(mem)/compactPage), base: uintptr(unsafe.Pointer(unsafe.SliceData(mem)))}
	if err := mincore(mem, m.resident); err != nil {
		return pageMap{}, err
	}
	var err error
	m.anon, m.file, err = memoryRanges(m.base, m.base+uintptr(len(mem)))
	return m, err
}

// addressRanges are sorted, disjoint [start, end) ranges of addresses.
type addressRanges [][2]uintptr

// contains says whether [lo, hi) lies within one of the ranges.
func (r addressRanges) contains(lo, hi uintptr) bool {
	// The first range that ends after lo is the only one that can.
	k := sort.Search(len(r), func(k int) bool { return r[k][1] > lo })
	return k < len(r) && r[k][0] <= lo && hi <= r[k][1]
}

// memoryRanges returns the parts of [lo, hi) that the process maps
// anonymously, and those it maps privately from files, from
// /proc/self/maps.
func memoryRanges(lo, hi uintptr) (anon, file addressRanges, err error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// start-end perms offset dev inode [path]
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || uintptr(end) <= lo {
			continue
		}
		if uintptr(start) >= hi {
			break
		}
		r := [2]uintptr{max(uintptr(start), lo), min(uintptr(end), hi)}
		switch {
		case fields[4] == "0":
			anon = append(anon, r)
		case strings.HasSuffix(fields[1], "p"):
			file = append(file, r)
		}
	}
	return anon.merged(), file.merged(), s.Err()
}

// merged joins adjacent ranges, so that a run spanning two anonymous
// mappings is contained in one range.
func (r addressRanges) merged() addressRanges {
	var out addressRanges
	for _, a := range r {
		if n := len(out); n > 0 && out[n-1][1] == a[0] {
			out[n-1][1] = a[1]
			continue
		}
		out = append(out, a)
	}
	return out
}

// mincore sets vec[i]'s low bit when the i-th page of b is resident.
func mincore(b, vec []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		return errno
	}
	return nil
}
