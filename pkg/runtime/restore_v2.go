package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/klog/v2"
)

// maxMappedRuns bounds the runs of a snapshot that a restore maps: each is
// a mapping of its own in every instance restored from it, and a process
// has at most vm.max_map_count of them (65,530 by default). A snapshot
// with more runs is read instead.
const maxMappedRuns = 256

// SaveSnapshot writes a snapshot of the guest (see WriteSnapshot) to the
// file at path, atomically: to a temporary file in the same directory,
// then put in the place of path's (replaceFile), readable only by its
// owner. It returns
// the disk space the file takes (SnapshotDiskBytes). The file is in format
// version 4 (snapshot_v2.go): its memory uncompressed, page-aligned and
// sparse, for RestoreFile to map rather than read. With Config.ImageDir,
// the pages that still hold what the module's data segments wrote are
// left to the module's image file there (snapshot_image.go), written by
// the module's first snapshot; without it, or when that file cannot be
// written, they are stored too.
//
// # Notes
//
//   - A snapshot file is mapped by the instances restored from it, so it is
//     never written to or truncated once in place: writing another snapshot
//     to path replaces the file (a new inode), and the instances keep the
//     old one until they close. Whoever removes snapshot files must unlink
//     them, never truncate or rewrite them. So are image files.
//   - The file is not synced to the disk: a snapshot is a guest's memory
//     kept across wakes, not data of record, and a file this process did
//     not write is verified before it is restored, so that one left
//     incomplete by a crash of the machine is refused as ErrSnapshotInvalid
//     and the guest starts afresh. Syncing made every save wait for the
//     disk.
func (i *Instance) SaveSnapshot(path string) (int64, error) {
	var (
		digest [sha256.Size]byte
		fi     os.FileInfo
	)
	// Pages the data segments wrote are left to the module's image file,
	// written by its first snapshot; without one, stored. The file is the
	// module's: it is seen to outside the instance's lock.
	img := i.owner.image
	if i.owner.imagePath() == "" {
		img = nil
	} else if err := i.owner.ensureImageFile(); err != nil {
		klog.V(2).InfoS("Snapshots of the module store its whole memory", "digest", i.owner.Digest, "reason", err.Error())
		img = nil
	}
	// Not synced (see the notes above).
	err := writeFileReplacing(path, false, func(f *os.File) error {
		i.mu.Lock()
		defer i.mu.Unlock()
		s, mem, err := i.snapshotLocked()
		if err != nil {
			return err
		}
		hints, hot := i.pageHints(mem, img)
		s.hot = hot
		if _, digest, err = encodeSnapshotV2(f, s, mem, img, hints); err != nil {
			return err
		}
		// The file is complete: renaming it keeps its identity.
		fi, err = f.Stat()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("snapshot[%s]: %w", path, err)
	}
	i.owner.runtime.snapshots.trust(fi, digest)
	// The file's blocks are counted once it is closed.
	if now, err := os.Stat(path); err == nil && os.SameFile(now, fi) {
		fi = now
	}
	return SnapshotDiskBytes(fi), nil
}

// SnapshotDiskBytes returns the disk space the snapshot file fi describes
// takes: a version 3 or 4 file is sparse, and the zero pages inside it take
// none. Where the platform does not tell, it is the file's size.
func SnapshotDiskBytes(fi os.FileInfo) int64 { return diskBytes(fi) }

// RestoreFile is Restore from the file at path, which holds a snapshot of
// either format version. One written by SaveSnapshot (version 4, or 3) is mapped
// copy-on-write, with the module's image file for the pages it leaves to
// it: the guest's memory grows only by the pages it touches. The first
// restore of a file this runtime did not write also verifies its pages,
// reading them all once (snapshot_trust.go); so does the first use of an
// image file. With Config.SpareIdle set, the restore takes the spare an
// earlier instance's Close built for the same tenant, argument,
// environment and memory limit, if there is one, instead of instantiating
// the module (spare.go).
//
// # Errors
//
// A missing file is an error wrapping os.ErrNotExist (not
// ErrSnapshotInvalid): there is no snapshot to discard. Otherwise as
// Restore; a file shorter than its header says is ErrSnapshotInvalid,
// refused before anything is mapped, and so is a snapshot whose image file
// is missing, of another module, or not the module's image.
func (m *Module) RestoreFile(ctx context.Context, cfg InstanceConfig, path string) (*Instance, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot[%s]: %w", path, err)
	}
	defer f.Close()
	var inst *Instance
	if isSnapshotV2(f) {
		inst, err = m.restoreFileV2(ctx, cfg, f)
	} else {
		inst, err = m.Restore(ctx, cfg, f)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot[%s]: %w", path, err)
	}
	return inst, nil
}

// isSnapshotV2 says whether r starts as a version 3 or 4 snapshot.
func isSnapshotV2(r io.ReaderAt) bool {
	head := make([]byte, len(snapshotMagic)+4)
	if _, err := r.ReadAt(head, 0); err != nil {
		return false
	}
	return string(head[:len(snapshotMagic)]) == snapshotMagic &&
		mappedVersion(binary.LittleEndian.Uint32(head[len(snapshotMagic):]))
}

// restoreFileV2 restores the version 3 or 4 snapshot in f.
func (m *Module) restoreFileV2(ctx context.Context, cfg InstanceConfig, f *os.File) (*Instance, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading snapshot: %w", err)
	}
	var s *snapshot
	err = guardSnapshot(func() error {
		var err error
		s, err = readSnapshotV2Header(f, fi.Size(), min(cfg.MemoryLimit, maxMemory))
		return err
	})
	if err != nil {
		return nil, err
	}
	trust := &m.runtime.snapshots
	trusted := trust.trusted(fi, s.pagesDigest)
	inst, err := m.restoreSnapshot(ctx, cfg, s, canMapSnapshots, func(inst *Instance) error { return inst.restoreV2(s, f, trusted) })
	if err != nil {
		return nil, err
	}
	if !trusted {
		trust.trust(fi, s.pagesDigest)
	}
	return inst, nil
}

// restoreV2 puts a version 3 or 4 snapshot's memory and globals into a new,
// uninitialized instance. The runs are mapped from f, and from the
// module's image file, when the memory is a mapping of its own, and
// otherwise read from them (from the file held in s when f is nil); pages
// not trusted are verified either way (through the mapping, they are read
// into the page cache, not into the instance).
func (i *Instance) restoreV2(s *snapshot, f *os.File, trusted bool) error {
	var img *memoryImageFile
	if s.imageRuns() {
		if s.image != i.owner.image.digest {
			return invalid("taken with another memory image of the module (another host version?)")
		}
		var err error
		if img, err = i.owner.openImageFile(); err != nil {
			return err
		}
		defer img.f.Close() // a mapping keeps the file
	}
	mem := i.module.Memory()
	initial := uint64(mem.Size())
	if s.memory < initial {
		return invalid("memory of %d bytes is smaller than the module's minimum of %d", s.memory, initial)
	}
	mapping := canMapSnapshots && f != nil && len(s.runs) <= i.owner.runtime.snapshots.mapsAtMost() &&
		i.memoryBuf != nil && i.memoryBuf.mapped && i.owner.runtime.runsLeft(len(s.runs))
	if s.memory > initial {
		// Pages to be mapped over are not backed first.
		if mapping {
			i.memoryBuf.lazy = true
		}
		_, ok := mem.Grow(uint32((s.memory - initial) / wasmPage))
		if mapping {
			i.memoryBuf.lazy = false
		}
		if !ok {
			return invalid("memory of %d bytes cannot be allocated (module maximum or limit)", s.memory)
		}
	}
	buf, ok := mem.Read(0, uint32(s.memory))
	if !ok {
		return invalid("memory of %d bytes cannot be read back", s.memory)
	}
	var src io.ReaderAt = bytes.NewReader(s.file)
	if f != nil {
		src = f
	}
	// The data segments wrote to the initial memory; grown memory is zero.
	dirty := initial
	if mapping {
		err := mapRuns(f, img, s, buf)
		if err == nil {
			i.memoryBuf.countRuns(len(s.runs))
			i.restoredRuns = s.runs
			if !trusted && !bytes.Equal(runsDigest(s, buf), s.pagesDigest[:]) {
				return invalid("pages checksum mismatch (corrupt)")
			}
			if !i.owner.runtime.noPrefault {
				i.prefaulted = prefault(buf, s.hot)
				i.owner.runtime.metrics.hotPagesCopied(i.prefaulted)
			}
			return i.restoreGlobals(s)
		}
		if errors.Is(err, errUnmapped) {
			return err // the instance is closed, its memory not touched again
		}
		klog.V(2).InfoS("Mapping a snapshot failed; reading it", "digest", i.owner.Digest, "err", err)
		dirty = s.memory // some pages may be given back or mapped, others not
	}
	if err := readRuns(src, img, s, buf, dirty, !trusted); err != nil {
		return err
	}
	return i.restoreGlobals(s)
}

// runsDigest returns the SHA-256 of the stored runs of s in mem, each a
// mapping of the file, faulted in at once first.
func runsDigest(s *snapshot, mem []byte) []byte {
	h := sha256.New()
	for _, r := range s.runs {
		if r.image {
			continue
		}
		run := mem[r.off : r.off+r.len]
		populateRead(run)
		h.Write(run)
	}
	return h.Sum(nil)
}
