package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux's FIEMAP ioctl (Documentation/filesystems/fiemap.rst), which no
// package wraps.
const (
	fsIocFiemap          = 0xC020660B
	fiemapExtentDelalloc = 0x4
	fiemapHeader         = 32
	fiemapExtent         = 56
)

// delallocExtents returns how many of the file's extents at path have no
// blocks yet (delayed allocation), and how many it has; an error when the
// file system does not tell.
func delallocExtents(t *testing.T, path string) (delalloc, all int, err error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const n = 64
	buf := make([]byte, fiemapHeader+n*fiemapExtent)
	binary.LittleEndian.PutUint64(buf[8:], ^uint64(0)) // fm_length: all of it
	binary.LittleEndian.PutUint32(buf[24:], n)         // fm_extent_count
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return 0, 0, errno
	}
	all = int(binary.LittleEndian.Uint32(buf[20:])) // fm_mapped_extents
	for e := range min(all, n) {
		if binary.LittleEndian.Uint32(buf[fiemapHeader+e*fiemapExtent+40:])&fiemapExtentDelalloc != 0 {
			delalloc++
		}
	}
	return delalloc, all, nil
}

// A snapshot written over another is left to the kernel's writeback like
// any new file: replacing the old one does not make the file system
// allocate and write the new one at once (ext4's auto_da_alloc on a rename
// over a file), which made the release of the old file cost more again.
// The old file stays readable by whoever has it open; the path holds the
// new one.
func TestReplaceFile_LeavesTheNewFileToWriteback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap")
	write := func(content []byte) func(*os.File) error {
		return func(f *os.File) error {
			// Sparse, as snapshots are.
			_, err := f.WriteAt(content, 1<<20)
			return err
		}
	}
	oldContent, newContent := bytes.Repeat([]byte("o"), 64<<10), bytes.Repeat([]byte("n"), 64<<10)
	if err := writeFileReplacing(path, false, write(oldContent)); err != nil {
		t.Fatal(err)
	}
	delalloc, all, err := delallocExtents(t, path)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) || (err == nil && delalloc == 0) {
		t.Skipf("the file system does not delay allocation (%d of %d extents, %v)", delalloc, all, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	if err := writeFileReplacing(path, false, write(newContent)); err != nil {
		t.Fatal(err)
	}
	if delalloc, all, err = delallocExtents(t, path); err != nil || delalloc == 0 {
		t.Errorf("after replacing a file, %d of the new file's %d extents wait for writeback (%v), want all", delalloc, all, err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got[1<<20:], newContent) {
		t.Errorf("the path does not hold the new file (%v)", err)
	}
	kept := make([]byte, len(oldContent))
	if _, err := old.ReadAt(kept, 1<<20); err != nil || !bytes.Equal(kept, oldContent) {
		t.Errorf("the old file, still open, changed (%v)", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
		t.Errorf("the directory holds %d entries (%v), want the file alone", len(entries), err)
	}
}
