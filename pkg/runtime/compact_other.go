//go:build !linux

package runtime

// releaseZeroPages gives nothing back where the runtime cannot tell a
// mapping's anonymous pages from its file pages.
func releaseZeroPages([]byte, int) (uint64, int, error) { return 0, 0, nil }

// residentSplit says nothing of what is resident: no memory is mapped
// from files here.
func residentSplit([]byte) (anonymous, file uint64, err error) { return 0, 0, nil }

// maxCompactRemaps and maxMemoryRemaps are the bounds of
// compact_remap_linux.go; no file is mapped into memory here.
const (
	maxCompactRemaps = 0
	maxMemoryRemaps  = 0
)
