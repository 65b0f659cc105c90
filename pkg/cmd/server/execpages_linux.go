package server

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// releaseExecutablePages drops the process's mappings of the pages of its
// executable's code and read-only data, and returns how many KiB of them
// stopped being resident, measured in /proc/self/smaps before and after.
// The next access to a page maps it again, from the page cache or the
// file. Mappings that hold a private copy of a page are left alone.
//
// The pages are paged out (MADV_PAGEOUT), not only unmapped
// (MADV_DONTNEED), and read back one page at a time (MADV_RANDOM): the
// page cache may hold the file in large folios (a binary just written, by
// the linker or by unpacking an image, or read ahead in large chunks is
// held in folios of up to 2 MiB), and the kernel maps a whole folio where
// one page of it is touched, so unmapping alone soon maps most of it
// back. Paged out and read back without read-ahead, the file comes back
// in pages, as they are touched; the price is a small read for each page
// the server runs again after a release, about 1,500 for an idle server,
// and a burst of work after a release reads its code back page by page
// once. Pages another process maps, such as another replica's on the same
// node, are left alone. The mappings are also told not to map the file in
// huge pages (MADV_NOHUGEPAGE), which would map 2 MiB at once.
//
// The kernel pages out a file's pages only for a process that owns the
// file or may write it; elsewhere MADV_PAGEOUT succeeds and releases
// nothing. When it released almost nothing (under a tenth), and on kernels
// older than 5.4, which have no MADV_PAGEOUT, the mappings are unmapped
// (MADV_DONTNEED) instead: the process's page-table entries go, its share
// of the pages (PSS) falls, and the pages stay in the page cache, from
// which the next access maps them again without a read.
//
// # Errors
//
// releaseExecutablePages fails when /proc/self is not readable or madvise
// refuses to drop a mapping.
func releaseExecutablePages() (pageRelease, error) {
	return releaseExecutablePagesWith(madvise)
}

// releaseExecutablePagesWith is releaseExecutablePages advising the kernel
// with advise.
func releaseExecutablePagesWith(advise func(addr, length uintptr, advice int) error) (pageRelease, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return pageRelease{}, fmt.Errorf("executable: %w", err)
	}
	id := fileID{major: unix.Major(st.Dev), minor: unix.Minor(st.Dev), inode: st.Ino}
	mappings, err := readExecutableMappings(id)
	if err != nil {
		return pageRelease{}, err
	}
	var targets []executableMapping
	var before int64
	for _, m := range mappings {
		if m.releasable() && m.rss > 0 {
			targets = append(targets, m)
			before += m.rss
		}
	}
	if len(targets) == 0 {
		return pageRelease{}, nil
	}
	advice := advicePageOut
	for _, m := range targets {
		// Kernels without transparent huge pages refuse the first; they map
		// no huge pages either. The second only makes reads smaller.
		_ = advise(m.start, m.end-m.start, unix.MADV_NOHUGEPAGE)
		_ = advise(m.start, m.end-m.start, unix.MADV_RANDOM)
		err := advise(m.start, m.end-m.start, unix.MADV_PAGEOUT)
		if errors.Is(err, unix.EINVAL) {
			advice = adviceDontNeed
			err = advise(m.start, m.end-m.start, unix.MADV_DONTNEED)
		}
		if err != nil {
			return pageRelease{}, fmt.Errorf("mapping[%#x-%#x]: %w", m.start, m.end, err)
		}
	}
	after, err := residentOf(id, targets)
	if err != nil {
		return pageRelease{}, err
	}
	if advice == advicePageOut && before-after < before/10 {
		advice = adviceDontNeed
		for _, m := range targets {
			if err := advise(m.start, m.end-m.start, unix.MADV_DONTNEED); err != nil {
				return pageRelease{}, fmt.Errorf("mapping[%#x-%#x]: %w", m.start, m.end, err)
			}
		}
		if after, err = residentOf(id, targets); err != nil {
			return pageRelease{}, err
		}
	}
	return pageRelease{kib: max(before-after, 0), advice: advice}, nil
}

// readExecutableMappings returns the process's mappings of the file id.
func readExecutableMappings(id fileID) ([]executableMapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseExecutableMappings(f, id)
}

// residentOf returns how many KiB of the mappings of the file id that start
// where targets do are resident.
func residentOf(id fileID, targets []executableMapping) (int64, error) {
	mappings, err := readExecutableMappings(id)
	if err != nil {
		return 0, err
	}
	starts := make(map[uintptr]bool, len(targets))
	for _, m := range targets {
		starts[m.start] = true
	}
	var kib int64
	for _, m := range mappings {
		if starts[m.start] {
			kib += m.rss
		}
	}
	return kib, nil
}

// processCPUTime returns the CPU time the process has used, user and
// system; 0 when it cannot be read.
func processCPUTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// madvise advises the kernel about the address range [addr, addr+length).
// The range is one of the process's own mappings, not Go memory, so it is
// passed as integers.
func madvise(addr, length uintptr, advice int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, length, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}
