package runtime

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
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
// resident in the process (the Rss of /proc/self/smaps over its range),
// and how much of it is its own (Anonymous: not pages of a file it maps),
// or an error when that cannot be told (not Linux, memory not a mapping).
func (i *Instance) ResidentMemoryBytes() (rss, anonymous int64, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.memoryBuf == nil || !i.memoryBuf.mapped || len(i.memoryBuf.buf) == 0 {
		return 0, 0, fmt.Errorf("the memory is not a mapping")
	}
	start := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(i.memoryBuf.buf))))
	end := start + uint64(len(i.memoryBuf.buf))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var inside, found bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			from, err1 := strconv.ParseUint(lo, 16, 64)
			to, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				inside = from < end && to > start
				found = found || inside
				continue
			}
		}
		if !inside || len(fields) < 2 || (fields[0] != "Rss:" && fields[0] != "Anonymous:") {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if fields[0] == "Rss:" {
			rss += kb << 10
		} else {
			anonymous += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("no mapping of the memory in /proc/self/smaps")
	}
	return rss, anonymous, nil
}
