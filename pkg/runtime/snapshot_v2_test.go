package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// saveCounter runs three reconciles on a fresh counter guest and saves its
// snapshot to path: a restored guest reports count 4.
func saveCounter(t *testing.T, m *runtime.Module, path string, reconciles int) {
	t.Helper()
	inst, err := m.Instantiate(t.Context(), counterConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	reconcileN(t, inst, "x", reconciles)
	if _, err := inst.SaveSnapshot(path); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
}

// savedCounter loads the counter guest in a runtime with an image
// directory and saves its snapshot after three reconciles, in a directory
// of its own: it returns the runtime, the module, the image directory and
// the snapshot's path.
func savedCounter(t *testing.T) (*runtime.Runtime, *runtime.Module, string, string) {
	t.Helper()
	r, images := newImageRuntime(t)
	m, err := r.Load(t.Context(), guest(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(context.Background()) })
	saved := filepath.Join(t.TempDir(), "saved.snap")
	saveCounter(t, m, saved, 3)
	return r, m, images, saved
}

// copyFile copies src to a new file at dst: a file the runtime did not
// write.
func copyFile(t *testing.T, src, dst string, mutate func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		b = mutate(b)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshot_FileFormats(t *testing.T) {
	r, m, _, saved := savedCounter(t)
	dir := filepath.Dir(saved)

	tests := []struct {
		name     string
		file     func(t *testing.T) string
		mapLimit int
	}{
		{name: "version 3 written by the runtime (mapped)", file: func(*testing.T) string { return saved }},
		{name: "version 3 not written by the runtime (read and verified)", file: func(t *testing.T) string {
			path := filepath.Join(dir, "copy.snap")
			copyFile(t, saved, path, nil)
			return path
		}},
		{name: "version 3 with more runs than are mapped (read)", file: func(*testing.T) string { return saved }, mapLimit: 1},
		{name: "version 1 (inflated)", file: func(t *testing.T) string {
			inst, err := m.Instantiate(t.Context(), counterConfig)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(context.Background())
			reconcileN(t, inst, "x", 3)
			path := filepath.Join(dir, "v1.snap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := inst.WriteSnapshot(f); err != nil {
				t.Fatal(err)
			}
			return path
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.SetSnapshotMapLimit(tt.mapLimit)
			defer r.SetSnapshotMapLimit(0)
			path := tt.file(t)
			// Twice: a file verified by the first restore is mapped by the
			// second.
			for range 2 {
				inst, err := m.RestoreFile(t.Context(), counterConfig, path)
				if err != nil {
					t.Fatalf("RestoreFile: %v", err)
				}
				if c, _ := report(t, inst, "report"); c != 4 {
					t.Errorf("count after restore = %d, want 4", c)
				}
				reconcileN(t, inst, "churn", 3)
				if c, _ := report(t, inst, "report"); c != 8 {
					t.Errorf("count after churn = %d, want 8", c)
				}
				inst.Close(context.Background())
			}
		})
	}
}

// v2Header locates the fields of a version 3 snapshot's header: its
// length, and where its run table starts.
func v2Header(t *testing.T, b []byte) (length, runs int) {
	t.Helper()
	length = int(binary.LittleEndian.Uint32(b[12:]))
	off := 16
	off += 2 + int(binary.LittleEndian.Uint16(b[off:]))
	off += 8 + 8 + 8 + 4 + sha256.Size
	off += 4 + 13*int(binary.LittleEndian.Uint32(b[off:]))
	return length, off
}

// resum makes the checksum of a version 3 snapshot's header valid again.
func resum(t *testing.T, b []byte) []byte {
	n, _ := v2Header(t, b)
	sum := sha256.Sum256(b[:n-sha256.Size])
	copy(b[n-sha256.Size:n], sum[:])
	return b
}

func TestSnapshot_FileInvalid(t *testing.T) {
	_, m, _, saved := savedCounter(t)
	dir := filepath.Dir(saved)

	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		wantMsg string
	}{
		{name: "truncated by a page", mutate: func(b []byte) []byte { return b[:len(b)-4096] }, wantMsg: "truncated?"},
		{name: "truncated by a byte", mutate: func(b []byte) []byte { return b[:len(b)-1] }, wantMsg: "truncated?"},
		{name: "truncated in the header", mutate: func(b []byte) []byte { return b[:100] }, wantMsg: "header"},
		{name: "cut to its magic", mutate: func(b []byte) []byte { return b[:12] }, wantMsg: "header"},
		{name: "grown by a page", mutate: func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, wantMsg: "its runs need"},
		// What a crash of the machine can leave of a file that was not
		// synced: its size, with pages that never reached the disk.
		{name: "a page lost in a crash", mutate: func(b []byte) []byte { clear(b[len(b)-4096:]); return b }, wantMsg: "pages checksum mismatch"},
		{name: "a page byte flipped", mutate: func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b }, wantMsg: "pages checksum mismatch"},
		{name: "run table byte flipped", mutate: func(b []byte) []byte {
			_, runs := v2Header(t, b)
			b[runs+4] ^= 0x01
			return b
		}, wantMsg: "header checksum mismatch"},
		{name: "run outside memory", mutate: func(b []byte) []byte {
			_, runs := v2Header(t, b)
			binary.LittleEndian.PutUint32(b[runs+4:], 1<<20) // first page of run 0
			return resum(t, b)
		}, wantMsg: "outside memory"},
		{name: "runs overlapping", mutate: func(b []byte) []byte {
			_, runs := v2Header(t, b)
			if binary.LittleEndian.Uint32(b[runs:]) < 2 {
				t.Skip("one run only")
			}
			binary.LittleEndian.PutUint32(b[runs+4+9:], binary.LittleEndian.Uint32(b[runs+4:])) // run 1 starts where run 0 does
			return resum(t, b)
		}, wantMsg: "out of order"},
		{name: "last run longer than the file", mutate: func(b []byte) []byte {
			_, runs := v2Header(t, b)
			n := int(binary.LittleEndian.Uint32(b[runs:]))
			last := runs + 4 + 9*(n-1) + 4
			binary.LittleEndian.PutUint32(b[last:], binary.LittleEndian.Uint32(b[last:])+1)
			return resum(t, b)
		}, wantMsg: "truncated?"},
		{name: "run from neither file", mutate: func(b []byte) []byte {
			_, runs := v2Header(t, b)
			b[runs+4+8] = 2 // run 0's source
			return resum(t, b)
		}, wantMsg: "run from 2"},
		{name: "image run with no image named", mutate: func(b []byte) []byte {
			_, runs := v2Header(t, b)
			if b[runs+4+8] != 1 {
				t.Fatal("run 0 is not from the image")
			}
			image := 16 + 2 + int(binary.LittleEndian.Uint16(b[16:])) + 8 + 8 + 8 + 4
			clear(b[image : image+sha256.Size])
			return resum(t, b)
		}, wantMsg: "an image the header does not name"},
		{name: "another image named", mutate: func(b []byte) []byte {
			image := 16 + 2 + int(binary.LittleEndian.Uint16(b[16:])) + 8 + 8 + 8 + 4
			b[image] ^= 0x01
			return resum(t, b)
		}, wantMsg: "another memory image"},
		{name: "header longer than the file", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[12:], uint32(len(b)+1))
			return b
		}, wantMsg: "does not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			copyFile(t, saved, path, tt.mutate)
			inst, err := m.RestoreFile(t.Context(), counterConfig, path)
			if !errors.Is(err, runtime.ErrSnapshotInvalid) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("RestoreFile error = %v, want ErrSnapshotInvalid with %q", err, tt.wantMsg)
			}
			if inst != nil {
				t.Errorf("RestoreFile returned an instance with its error")
			}
		})
	}
}

// A file mapped by a live instance is replaced, never rewritten: the
// instance keeps the memory it was restored with.
func TestSnapshot_RewrittenWhileMapped(t *testing.T) {
	_, m, _, path := savedCounter(t)
	live, err := m.RestoreFile(t.Context(), counterConfig, path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close(context.Background())

	saveCounter(t, m, path, 10) // the same path, another guest's memory
	if c, _ := report(t, live, "report"); c != 4 {
		t.Errorf("count of the guest restored before the file was replaced = %d, want 4", c)
	}
	again, err := m.RestoreFile(t.Context(), counterConfig, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	if c, _ := report(t, again, "report"); c != 11 {
		t.Errorf("count restored from the new file = %d, want 11", c)
	}
}

// A guest restored from a mapped snapshot has only the pages it writes as
// memory of its own; one whose snapshot is read has all of them. (Pages it
// reads are the file's, in the page cache, shared with every instance
// restored from it; the kernel maps some neighbours of each page read with
// it, which count in the resident set too.)
func TestSnapshot_RestoredMemoryIsLazy(t *testing.T) {
	r, m, _, path := savedCounter(t)

	type residency struct{ rss, own int64 }
	resident := func(inst *runtime.Instance) residency {
		t.Helper()
		rss, own, err := inst.ResidentMemoryBytes()
		if err != nil {
			t.Skipf("resident memory cannot be told: %v", err)
		}
		return residency{rss, own}
	}
	mapped, err := m.RestoreFile(t.Context(), counterConfig, path)
	if err != nil {
		t.Fatal(err)
	}
	defer mapped.Close(context.Background())
	restoredMapped := resident(mapped)
	reconcileN(t, mapped, "x", 1)
	touchedMapped := resident(mapped)

	r.SetSnapshotMapLimit(-1)
	defer r.SetSnapshotMapLimit(0)
	read, err := m.RestoreFile(t.Context(), counterConfig, path)
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close(context.Background())
	restoredRead := resident(read)
	t.Logf("memory of %d bytes; resident (own) after restore: mapped %d (%d), after a reconcile %d (%d); read %d (%d)",
		read.MemoryBytes(), restoredMapped.rss, restoredMapped.own, touchedMapped.rss, touchedMapped.own, restoredRead.rss, restoredRead.own)
	if restoredMapped.own > restoredRead.own/4 {
		t.Errorf("a mapped restore has %d bytes of its own before its first reconcile, want at most a quarter of a read one's %d", restoredMapped.own, restoredRead.own)
	}
	if touchedMapped.own > restoredRead.own/4 || touchedMapped.rss >= restoredRead.rss {
		t.Errorf("a mapped restore has %+v bytes resident after a reconcile, want at most a quarter of a read one's own %d and less than its resident %d", touchedMapped, restoredRead.own, restoredRead.rss)
	}
}

// TestSnapshot_PageHints: a guest restored by mapping its snapshot is
// snapshotted again reading only the pages it wrote since: the pages the
// hints tell without reading are classified as reading them would, and the
// snapshots so written restore the guest, round after round.
func TestSnapshot_PageHints(t *testing.T) {
	_, m, _, path := savedCounter(t) // count 3
	want := int64(3)
	for round := range 3 {
		inst, err := m.RestoreFile(t.Context(), counterConfig, path)
		if err != nil {
			t.Fatal(err)
		}
		reconcileN(t, inst, "x", 2)
		want += 2
		same, told, err := inst.SnapshotPageHints()
		if err != nil {
			t.Fatal(err)
		}
		if told == 0 {
			inst.Close(context.Background())
			t.Skip("the kernel's page map cannot be read here")
		}
		if !same {
			t.Errorf("round %d: the page hints classify the memory otherwise than reading it", round)
		}
		t.Logf("round %d: %d of %d pages told without reading them", round, told, inst.MemoryBytes()/4096)
		path = filepath.Join(t.TempDir(), "round.snap")
		if _, err := inst.SaveSnapshot(path); err != nil {
			t.Fatal(err)
		}
		inst.Close(context.Background())
	}
	inst, err := m.RestoreFile(t.Context(), counterConfig, path)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	if got, _ := report(t, inst, "report"); got != want+1 {
		t.Errorf("restored guest reports count %d, want %d", got, want+1)
	}
}
