package runtime

// ResidentBytes is how much of the instance's linear memory is resident,
// by mincore; 0 when its memory is not a mapping of its own.
func ResidentBytes(i *Instance) uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	m := i.memoryBuf
	if m == nil || !m.mapped || len(m.buf) == 0 {
		return 0
	}
	vec := make([]byte, len(m.buf)/compactPage)
	if err := mincore(m.buf[:len(vec)*compactPage], vec); err != nil {
		return 0
	}
	var n uint64
	for _, v := range vec {
		n += uint64(v & 1)
	}
	return n * compactPage
}

// ReleaseZeroPages gives the instance's zero pages back without asking the
// guest to zero its free memory first: what Compact does for a guest that
// does not export compact.
func ReleaseZeroPages(i *Instance) uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	m := i.memoryBuf
	if m == nil || !m.mapped || m.lazy || m.scratch != nil {
		return 0
	}
	released, remapped, _ := releaseZeroPages(m.buf, m.remapsLeft())
	m.chargeRemaps(remapped)
	return released
}

// MappedRuns is how many runs of files, and compaction's remaps, the
// instance's memory is charged for.
func MappedRuns(i *Instance) int64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.memoryBuf == nil {
		return 0
	}
	return i.memoryBuf.runs
}
