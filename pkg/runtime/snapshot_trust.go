package runtime

import (
	"crypto/sha256"
	"os"
	"sync"
	"time"
)

// A version 3 or 4 snapshot's header has a checksum, verified at every restore;
// its pages have a digest, verified only the first time the runtime
// restores the file: hashing every page at every restore would read the
// whole file, which mapping it is there to avoid. A file the runtime wrote
// itself, or verified once, is known by its identity (device, inode, size
// and modification time) until the process ends: snapshot files are never
// changed in place (mapRuns), so the same identity holds the same pages.
// The first restore of a file not known maps it as any other, then hashes
// its pages through the mapping (from the page cache, not into the
// instance) and refuses it when they differ (docs/RATIONALE.md).

// fileIdentity tells one file's content from another's while it is not
// written to.
type fileIdentity struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// maxTrustedSnapshots bounds the files a runtime remembers as verified: a
// file forgotten is verified again at its next restore.
const maxTrustedSnapshots = 1 << 14

// snapshotFiles is what a runtime knows about version 3 and 4 snapshot files:
// those whose pages are known to match their digest. Its zero value is
// ready to use.
type snapshotFiles struct {
	mu    sync.Mutex
	files map[fileIdentity][sha256.Size]byte // identity -> pages' digest
	// mapLimit, when not 0, replaces maxMappedRuns, for tests: a negative
	// one maps none.
	mapLimit int
}

// mapsAtMost returns the most runs a restore maps.
func (t *snapshotFiles) mapsAtMost() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mapLimit != 0 {
		return max(t.mapLimit, 0)
	}
	return maxMappedRuns
}

// trust remembers that the file of identity fi holds pages of digest.
func (t *snapshotFiles) trust(fi os.FileInfo, digest [sha256.Size]byte) {
	id, ok := identityOf(fi)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.files == nil {
		t.files = map[fileIdentity][sha256.Size]byte{}
	}
	if _, have := t.files[id]; !have && len(t.files) >= maxTrustedSnapshots {
		for old := range t.files {
			delete(t.files, old) // any one: it is verified again if used
			break
		}
	}
	t.files[id] = digest
}

// trusted says whether the file of identity fi is known to hold pages of
// digest.
func (t *snapshotFiles) trusted(fi os.FileInfo, digest [sha256.Size]byte) bool {
	id, ok := identityOf(fi)
	if !ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	d, have := t.files[id]
	return have && d == digest
}

// forget forgets every file; for tests and benchmarks that measure the
// first restore.
func (t *snapshotFiles) forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files = nil
}
