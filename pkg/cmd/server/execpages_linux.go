package server

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// releaseExecutablePages drops the process's mappings of the pages of its
// executable's code and read-only data, and returns how many KiB were
// resident. The next access to a page maps it again, from the page cache
// or the file. Mappings that hold a private copy of a page are left alone.
//
// The pages are paged out (MADV_PAGEOUT), not only unmapped
// (MADV_DONTNEED), and read back one page at a time (MADV_RANDOM): the
// page cache may hold the file in large folios (a binary just written, by
// the linker or by unpacking an image, or read ahead in large chunks is
// held in folios of up to 2 MiB), and the kernel maps a whole folio where
// one page of it is touched, so unmapping alone soon maps most of it
// back. Paged out and read back without read-ahead, the file comes back
// in pages, as they are touched; the price is a small read for each page
// the server runs again after a release, about 1,500 for an idle server.
// Pages another process maps, such as another replica's on the same node,
// are left alone. Kernels older than 5.4 have no MADV_PAGEOUT; the pages
// are only unmapped there. The mappings are also told not to map the file
// in huge pages (MADV_NOHUGEPAGE), which would map 2 MiB at once.
//
// # Errors
//
// releaseExecutablePages fails when /proc/self is not readable or madvise
// refuses to drop a mapping.
func releaseExecutablePages() (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	mappings, err := parseExecutableMappings(f, fileID{
		major: unix.Major(st.Dev), minor: unix.Minor(st.Dev), inode: st.Ino})
	if err != nil {
		return 0, err
	}
	var released int64
	for _, m := range mappings {
		if !m.releasable() || m.rss == 0 {
			continue
		}
		// Kernels without transparent huge pages refuse the first; they map
		// no huge pages either. The second only makes reads smaller.
		_ = madvise(m.start, m.end-m.start, unix.MADV_NOHUGEPAGE)
		_ = madvise(m.start, m.end-m.start, unix.MADV_RANDOM)
		err := madvise(m.start, m.end-m.start, unix.MADV_PAGEOUT)
		if errors.Is(err, unix.EINVAL) {
			err = madvise(m.start, m.end-m.start, unix.MADV_DONTNEED)
		}
		if err != nil {
			return released, fmt.Errorf("mapping[%#x-%#x]: %w", m.start, m.end, err)
		}
		released += m.rss
	}
	return released, nil
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
