package runtime

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errPagemap says that /proc/self/pagemap does not tell this process's
// pages apart as hintsOf reads them (pagemapWorks).
var errPagemap = errors.New("the kernel's page map does not tell pages apart here")

// pagemapEntries reads the pagemap entries of the pages of mem, which is
// page-aligned and a whole number of snapshot pages long, from
// /proc/self/pagemap. It fails where the kernel's page is not a snapshot
// page, the file cannot be read (some sandboxes hide it), or it failed the
// process's check of it (pagemapWorks).
func pagemapEntries(mem []byte) ([]uint64, error) {
	if os.Getpagesize() != snapshotPage {
		return nil, errPageSize
	}
	if !pagemapWorks() {
		return nil, errPagemap
	}
	return readPagemap(mem)
}

// pagemapWorks checks, once per process, that the page map reads as
// hintsOf expects on pages whose state is known: a private page written
// (present, not a file's), one never touched (not present), and a private
// mapping of a file's page that was read (present, a file's). A sandbox
// that answers with zeros, or an emulator whose addresses are not the
// kernel's, fails it, and every snapshot then reads every page: hints
// that were wrong would leave a page the guest wrote out of its snapshot.
var pagemapWorks = sync.OnceValue(func() bool { return pagemapAnswers(readPagemap) })

// pagemapAnswers is pagemapWorks's check, with read reading the entries.
func pagemapAnswers(read func([]byte) ([]uint64, error)) bool {
	anon, err := unix.Mmap(-1, 0, 2*snapshotPage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(anon)
	anon[0] = 1
	fd, err := unix.MemfdCreate("wasm-apiserver-pagemap-check", unix.MFD_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, []byte{1}, 0); err != nil {
		return false
	}
	if err := unix.Ftruncate(fd, snapshotPage); err != nil {
		return false
	}
	file, err := unix.Mmap(fd, 0, snapshotPage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		return false
	}
	defer unix.Munmap(file)
	if file[0] != 1 { // read, not written: the file's page
		return false
	}
	a, errA := read(anon)
	f, errF := read(file)
	return errA == nil && errF == nil &&
		a[0]&(pagemapPresent|pagemapFile) == pagemapPresent && a[1]&(pagemapPresent|pagemapSwapped) == 0 &&
		f[0]&(pagemapPresent|pagemapFile) == pagemapPresent|pagemapFile
}

// readPagemap reads the pagemap entries of the pages of mem.
func readPagemap(mem []byte) ([]uint64, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := len(mem) / snapshotPage
	raw := make([]byte, 8*n)
	first := uintptr(unsafe.Pointer(unsafe.SliceData(mem))) / snapshotPage
	if _, err := f.ReadAt(raw, int64(first)*8); err != nil {
		return nil, err
	}
	entries := make([]uint64, n)
	for p := range entries {
		entries[p] = binary.LittleEndian.Uint64(raw[8*p:])
	}
	return entries, nil
}
