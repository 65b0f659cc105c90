package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/klog/v2"
)

// SnapshotModule returns the digest of the module the snapshot file at path
// was taken of, read from its header (of either format version) without
// checking the rest: for telling which modules' image files snapshots
// still refer to (RemoveUnusedImages).
//
// # Errors
//
// A missing file is an error wrapping os.ErrNotExist; a file that does not
// start as a snapshot, ErrSnapshotInvalid.
func SnapshotModule(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("snapshot[%s]: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(snapshotMagic)+4+4+2+1<<10)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("snapshot[%s]: %w", path, err)
	}
	d := decoder{b: head[:n]}
	magic, version := string(d.bytes(uint64(len(snapshotMagic)))), d.u32()
	if mappedVersion(version) {
		d.u32() // the header's length
	}
	digest := string(d.bytes(uint64(d.u16())))
	if d.err != nil || magic != snapshotMagic || (version != snapshotVersion && !mappedVersion(version)) {
		return "", fmt.Errorf("snapshot[%s]: %w", path, invalid("not a snapshot of a format version this host reads"))
	}
	return digest, nil
}

// RemoveUnusedImages unlinks, from Config.ImageDir, the image files of the
// modules that are not loaded and not in used (the digests of the modules
// of every snapshot kept: SnapshotModule), and the temporary files of
// image files whose writing was interrupted. It returns how many files it
// removed.
//
// # Notes
//
//   - Image files are mapped by the guests restored against them: they are
//     only ever unlinked, never truncated or written to.
//   - A snapshot written while this runs, of an instance whose module was
//     released, may lose its image file: its restore then refuses it as
//     ErrSnapshotInvalid and the guest starts afresh.
func (r *Runtime) RemoveUnusedImages(used map[string]bool) int {
	dir := r.cfg.ImageDir
	if dir == "" {
		return 0
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			klog.ErrorS(err, "Listing the modules' image files", "dir", dir)
		}
		return 0
	}
	removed := 0
	// Holding the lock, no module is loaded, and so none snapshotted,
	// between telling that its image is unused and unlinking it.
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") {
			// ".<image file's name>.<random>.tmp" (writeFileAtomic)
			name, _, _ = strings.Cut(strings.TrimPrefix(name, "."), imageSuffix+".")
			name += imageSuffix
		}
		digest, ok := imageModuleDigest(name)
		if !ok || !e.Type().IsRegular() || used[digest] || r.modules[digest] != nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			klog.ErrorS(err, "Removing the image file of a module no snapshot refers to", "path", path)
			continue
		}
		removed++
	}
	return removed
}
