package runtime

import (
	"encoding/binary"
	"os"
	"unsafe"
)

// MemoryUsage is what /proc/self/pagemap says of the pages of an
// instance's linear memory, in bytes.
type MemoryUsage struct {
	// Resident is what the process maps in its page tables; Own the
	// part that is its own memory, anonymous pages or copies of a file's.
	Resident, Own uint64
	// FileCopies is the part of Own in mappings of files: pages of a
	// template or snapshot the instance copied on writing them.
	FileCopies uint64
	// FileMapped is how much of the memory is mapped from files.
	FileMapped uint64
}

// Usage returns the MemoryUsage of the instance's linear memory, or the
// zero MemoryUsage when its memory is not a mapping of its own.
func Usage(i *Instance) (MemoryUsage, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	m := i.memoryBuf
	if m == nil || !m.mapped || len(m.buf) < compactPage {
		return MemoryUsage{}, nil
	}
	mem := m.buf[:len(m.buf)/compactPage*compactPage]
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return MemoryUsage{}, err
	}
	defer f.Close()
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	raw := make([]byte, 8*(len(mem)/compactPage))
	if _, err := f.ReadAt(raw, int64(base/compactPage*8)); err != nil {
		return MemoryUsage{}, err
	}
	_, file, err := memoryRanges(base, base+uintptr(len(mem)))
	if err != nil {
		return MemoryUsage{}, err
	}
	var u MemoryUsage
	for _, r := range file {
		u.FileMapped += uint64(r[1] - r[0])
	}
	for p := range len(raw) / 8 {
		e := binary.LittleEndian.Uint64(raw[8*p:])
		if e&pagemapPresent == 0 {
			continue
		}
		u.Resident += compactPage
		if e&pagemapFile != 0 {
			continue
		}
		u.Own += compactPage
		if addr := base + uintptr(p*compactPage); file.contains(addr, addr+compactPage) {
			u.FileCopies += compactPage
		}
	}
	return u, nil
}
