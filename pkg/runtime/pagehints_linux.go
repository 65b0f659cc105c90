package runtime

import (
	"encoding/binary"
	"os"
	"unsafe"
)

// pagemapEntries reads the pagemap entries of the pages of mem, which is
// page-aligned and a whole number of snapshot pages long, from
// /proc/self/pagemap. It fails where the kernel's page is not a snapshot
// page, or the file cannot be read (some sandboxes hide it).
func pagemapEntries(mem []byte) ([]uint64, error) {
	if os.Getpagesize() != snapshotPage {
		return nil, errPageSize
	}
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
