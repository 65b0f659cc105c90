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
// and returns how many bytes it gave back.
//
// Pages that are not resident are not read (reading one would map a page
// for nothing), and pages mapped from a file are kept: MADV_DONTNEED on a
// private file mapping brings back the file's bytes, which need not be
// zero. Nothing is given back when either cannot be told.
func releaseZeroPages(mem []byte) uint64 {
	pages := len(mem) / compactPage
	if pages == 0 {
		return 0
	}
	mem = mem[:pages*compactPage]
	resident := make([]byte, pages)
	if err := mincore(mem, resident); err != nil {
		return 0
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	anon, err := anonymousRanges(base, base+uintptr(len(mem)))
	if err != nil {
		return 0
	}
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
	if released > 0 {
		// The mapping asked for transparent huge pages; khugepaged would
		// fill the pages given back again to collapse them into one.
		_ = unix.Madvise(mem[:cap(mem)], unix.MADV_NOHUGEPAGE)
	}
	return released
}

// addressRanges are sorted, disjoint [start, end) ranges of addresses.
type addressRanges [][2]uintptr

// contains says whether [lo, hi) lies within one of the ranges.
func (r addressRanges) contains(lo, hi uintptr) bool {
	// The first range that ends after lo is the only one that can.
	k := sort.Search(len(r), func(k int) bool { return r[k][1] > lo })
	return k < len(r) && r[k][0] <= lo && hi <= r[k][1]
}

// anonymousRanges returns the parts of [lo, hi) that the process maps
// anonymously, from /proc/self/maps.
func anonymousRanges(lo, hi uintptr) (addressRanges, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out addressRanges
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
		if fields[4] == "0" {
			out = append(out, [2]uintptr{max(uintptr(start), lo), min(uintptr(end), hi)})
		}
	}
	return out.merged(), s.Err()
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
