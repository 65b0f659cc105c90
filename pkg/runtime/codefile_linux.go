package runtime

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// executableAnonymous returns the process's private anonymous mappings
// that are readable and executable, and nothing else, sorted: wazero's
// compiled code.
func executableAnonymous() ([]codeSpan, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []codeSpan
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, ok := parseMapsLine(sc.Bytes())
		if ok && m.perms == "r-xp" && m.ino == 0 && !m.named {
			out = append(out, m.span)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /proc/self/maps: %w", err)
	}
	slices.SortFunc(out, func(a, b codeSpan) int { return cmp.Compare(a.start, b.start) })
	return out, nil
}

// mapsLine is one line of /proc/self/maps (or the header of a mapping in
// smaps): "start-end perms offset major:minor inode [path]".
type mapsLine struct {
	span         codeSpan
	perms        string
	major, minor uint32
	ino          uint64
	// named is set when the mapping has a path or a name ([heap], ...).
	named bool
}

// parseMapsLine parses line, and reports whether it is a mapping's line.
func parseMapsLine(line []byte) (mapsLine, bool) {
	fields := bytes.Fields(line)
	if len(fields) < 5 || bytes.HasSuffix(fields[0], []byte(":")) {
		return mapsLine{}, false
	}
	start, end, ok := bytes.Cut(fields[0], []byte("-"))
	if !ok {
		return mapsLine{}, false
	}
	s, err1 := strconv.ParseUint(string(start), 16, 64)
	e, err2 := strconv.ParseUint(string(end), 16, 64)
	major, minor, ok := bytes.Cut(fields[3], []byte(":"))
	maj, err3 := strconv.ParseUint(string(major), 16, 32)
	mnr, err4 := strconv.ParseUint(string(minor), 16, 32)
	ino, err5 := strconv.ParseUint(string(fields[4]), 10, 64)
	if !ok || errors.Join(err1, err2, err3, err4, err5) != nil || e <= s {
		return mapsLine{}, false
	}
	return mapsLine{
		span:  codeSpan{uintptr(s), uintptr(e)},
		perms: string(fields[1]),
		major: uint32(maj), minor: uint32(mnr), ino: ino,
		named: len(fields) > 5,
	}, true
}

// dirInMemory reports whether dir is on a file system that keeps its files
// in memory, where a file's pages cannot be reclaimed without swap, or
// cannot be told.
func dirInMemory(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return true
	}
	return typeInMemory(st.Type)
}

// typeInMemory reports whether a file system of type t keeps its files in
// memory.
func typeInMemory(t int64) bool {
	switch uint32(t) {
	case unix.TMPFS_MAGIC, unix.RAMFS_MAGIC:
		return true
	}
	return false
}

// mapCodeFile writes the bytes of cf's range, executable memory of the
// process, to a new unlinked file in its owner's CacheDir and maps the file over the
// range, private, readable and executable, in one fixed mapping, recording
// the file's identity in cf.
//
// A fixed mapping that fails may already have unmapped the range; the code
// is then copied back into anonymous memory from the file. Should that
// fail too, the process cannot go on (the next call into the code would
// fault) and mapCodeFile panics.
func mapCodeFile(cf *codeFile) error {
	span := codeSpan{cf.start, cf.end}
	size := span.end - span.start
	dir := cf.owner.cfg.CacheDir
	f, err := os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, 0o600)
	if err != nil {
		// A file system without O_TMPFILE: a named file, unlinked at once.
		if f, err = os.CreateTemp(dir, ".code-*"); err != nil {
			return err
		}
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return err
		}
	}
	defer f.Close()
	fd := int(f.Fd())
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || typeInMemory(fs.Type) {
		return fmt.Errorf("%s is held in memory", dir)
	}
	// The kernel reads the bytes from the process's own memory: pwrite of
	// the range's address, no copy through Go memory.
	for off := uintptr(0); off < size; {
		n, _, errno := unix.Syscall6(unix.SYS_PWRITE64, uintptr(fd), span.start+off, size-off, off, 0, 0)
		if errno != 0 {
			return fmt.Errorf("writing the code file: %w", errno)
		}
		if n == 0 {
			return errors.New("writing the code file: no progress")
		}
		off += n
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	got, _, errno := unix.Syscall6(unix.SYS_MMAP, span.start, size, unix.PROT_READ|unix.PROT_EXEC,
		unix.MAP_PRIVATE|unix.MAP_FIXED, uintptr(fd), 0)
	if errno == 0 && got == span.start {
		cf.major, cf.minor, cf.ino = unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino
		return nil
	}
	if errno == 0 {
		errno = unix.EINVAL // never: a fixed mapping lands where asked
	}
	restoreCode(fd, span)
	return fmt.Errorf("mapping the code file: %w", errno)
}

// restoreCode maps anonymous memory over span again and reads the code
// back into it from fd, after a failed fixed mapping of the file.
func restoreCode(fd int, span codeSpan) {
	size := span.end - span.start
	got, _, errno := unix.Syscall6(unix.SYS_MMAP, span.start, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, ^uintptr(0), 0)
	if errno != 0 || got != span.start {
		panic(fmt.Sprintf("compiled code at %#x left unmapped: %v", span.start, errno))
	}
	for off := uintptr(0); off < size; {
		n, _, errno := unix.Syscall6(unix.SYS_PREAD64, uintptr(fd), span.start+off, size-off, off, 0, 0)
		if errno != 0 || n == 0 {
			panic(fmt.Sprintf("compiled code at %#x cannot be read back: %v", span.start, errno))
		}
		off += n
	}
	if _, _, errno := unix.Syscall(unix.SYS_MPROTECT, span.start, size, unix.PROT_READ|unix.PROT_EXEC); errno != 0 {
		panic(fmt.Sprintf("compiled code at %#x cannot be made executable: %v", span.start, errno))
	}
}

// releaseCodeFilesLocked maps the code of files (codeFiles, or some of
// them) not mapped from a file yet from one, drops the resident pages of
// the others, and returns how many bytes were resident (codeFilesMu held).
// Each is checked first against the process's mappings: its whole range
// must still be what was listed (executable anonymous memory, or mappings
// of its file), or it is forgotten (taken from codeFiles) and left alone.
//
// With measure set, the check reads /proc/self/smaps, which also tells
// what is resident, and that a mapping of a file holds no private copy of
// a page (a debugger's write: the process cannot write its code); the
// kernel walks the page tables of every mapping of the process for it,
// milliseconds in a server of many guests. Without it, the check reads
// /proc/self/maps, and the code mapped from files counts as resident
// whole.
func releaseCodeFilesLocked(files map[wazero.CompiledModule]*codeFile, measure bool) (int64, error) {
	resident, err := codeResidency(files, measure)
	if err != nil {
		return 0, err
	}
	var released int64
	for c, cf := range files {
		rss, ok := resident[cf]
		if !ok {
			delete(codeFiles, c)
			continue
		}
		if !cf.backed() {
			// Mapping the file drops the anonymous pages; a guest
			// running the code meanwhile faults the same bytes in
			// from the file.
			if err := mapCodeFile(cf); err != nil {
				klog.V(2).InfoS("Keeping a module's compiled code in anonymous memory", "reason", err.Error())
				delete(codeFiles, c)
				continue
			}
			released += rss
			continue
		}
		if rss == 0 {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, cf.start, cf.end-cf.start, unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("dropping compiled code at %#x: %w", cf.start, errno)
		}
		released += rss
	}
	return released, nil
}

// codeResidency returns, for each code file of files whose range is wholly
// what was listed, its resident bytes: executable anonymous memory for
// code not mapped from a file yet; mappings of its file, read and
// execute, for the others. With measure set, it reads /proc/self/smaps,
// and a mapping of the file must hold no private copy of a page; without,
// it reads /proc/self/maps, and a file's whole range counts as resident.
func codeResidency(files map[wazero.CompiledModule]*codeFile, measure bool) (map[*codeFile]int64, error) {
	source := "/proc/self/maps"
	if measure {
		source = "/proc/self/smaps"
	}
	f, err := os.Open(source)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []smapsMapping
	var cur *smapsMapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if m, ok := parseMapsLine(line); ok {
			cur = nil
			if m.perms == "r-xp" {
				all = append(all, smapsMapping{mapsLine: m})
				cur = &all[len(all)-1]
			}
			continue
		}
		if cur == nil {
			continue
		}
		var to *int64
		switch {
		case bytes.HasPrefix(line, []byte("Rss:")):
			to = &cur.rss
		case bytes.HasPrefix(line, []byte("Anonymous:")):
			to = &cur.anonymous
		default:
			continue
		}
		fields := bytes.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kib, err := strconv.ParseInt(string(fields[1]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps line %q: %w", line, err)
		}
		*to += kib << 10
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	out := make(map[*codeFile]int64, len(files))
	for _, cf := range files {
		if rss, ok := listedResidency(cf, all); ok {
			if !measure && cf.backed() {
				rss = int64(cf.end - cf.start)
			}
			out[cf] = rss
		}
	}
	return out, nil
}

// smapsMapping is an executable mapping of /proc/self/smaps, with its
// resident bytes and those that are private copies.
type smapsMapping struct {
	mapsLine
	rss, anonymous int64
}

// listedResidency returns how many bytes of cf's range are resident, and
// whether the range is wholly what cf lists, among the process's executable
// mappings all. Code not mapped from a file yet may share a mapping with
// the anonymous code next to it (the kernel merges adjacent anonymous
// mappings alike), whose residency cannot be told apart: all of it counts
// as resident, as wazero wrote every byte of it.
func listedResidency(cf *codeFile, all []smapsMapping) (int64, bool) {
	var covered, rss int64
	for _, m := range all {
		if m.span.end <= cf.start || m.span.start >= cf.end {
			continue
		}
		if !cf.backed() {
			if m.ino != 0 || m.named {
				return 0, false
			}
			covered += int64(min(m.span.end, cf.end) - max(m.span.start, cf.start))
			continue
		}
		inside := m.span.start >= cf.start && m.span.end <= cf.end
		if !inside || m.ino != cf.ino || m.major != cf.major || m.minor != cf.minor || m.anonymous != 0 {
			return 0, false
		}
		covered += int64(m.span.end - m.span.start)
		rss += m.rss
	}
	if covered != int64(cf.end-cf.start) {
		return 0, false
	}
	if !cf.backed() {
		rss = covered
	}
	return rss, true
}
