package runtime

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"
)

// SetSnapshotMapLimit makes restores map snapshots of at most n runs and
// read the others; 0 restores the default, a negative n maps none.
func (r *Runtime) SetSnapshotMapLimit(n int) {
	r.snapshots.mu.Lock()
	defer r.snapshots.mu.Unlock()
	r.snapshots.mapLimit = n
}

// ForgetSnapshotFiles forgets which snapshot files are verified, as a
// restarted process would.
func (r *Runtime) ForgetSnapshotFiles() { r.snapshots.forget() }

// ResidentMemoryBytes returns how much of the instance's linear memory is
// resident, page by page (/proc/self/pagemap), and how much of that is its
// own rather than pages of a file it maps; or an error when that cannot be
// told (not Linux, memory not a mapping).
func (i *Instance) ResidentMemoryBytes() (rss, own int64, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.memoryBuf == nil || !i.memoryBuf.mapped || len(i.memoryBuf.buf) == 0 {
		return 0, 0, fmt.Errorf("the memory is not a mapping")
	}
	const page = 4096
	start := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(i.memoryBuf.buf))))
	pages := len(i.memoryBuf.buf) / page
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	entries := make([]byte, 8*pages)
	if _, err := f.ReadAt(entries, int64(start/page*8)); err != nil {
		return 0, 0, err
	}
	for p := range pages {
		e := binary.LittleEndian.Uint64(entries[8*p:])
		if e&(1<<63) == 0 { // not present
			continue
		}
		rss += page
		if e&(1<<61) == 0 { // not a file page (nor shared anonymous)
			own += page
		}
	}
	return rss, own, nil
}
