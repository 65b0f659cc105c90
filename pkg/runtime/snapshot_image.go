package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A snapshot (version 3 or 4, snapshot_v2.go) stores only the pages that differ
// from the module's memory image, what its data segments write: the pages
// it leaves as they were are mapped from an image file, one per module
// and image in Config.ImageDir, shared by every snapshot of the module.
// The file is written by the first SaveSnapshot of the module, whole under
// a temporary name and renamed into place, and never written to again:
// like snapshot files, it is mapped by restored guests. All integers are
// little-endian.
//
//	magic       8 bytes  "WASMIMAG"
//	version     u32      1
//	header      u32      length in bytes of the header, checksum included
//	digest      u16 n, n bytes: the module's digest, "sha256:<hex>"
//	image       32 bytes: the digest of the module's memoryImage
//	size        u64      bytes of the image, a multiple of snapshotPage
//	checksum    32 bytes: SHA-256 of the header before it
//
// The image's byte at address a is at offset D+a of the file, D being the
// header's length rounded up to a page; the file is D+size bytes long,
// its zero pages holes. Its pages are checked against the module's own
// memoryImage the first time the runtime uses the file, then trusted by
// its identity (snapshot_trust.go).
const (
	imageMagic   = "WASMIMAG"
	imageVersion = 1
	// imageSuffix ends the name of every image file.
	imageSuffix = ".img"
)

// memoryImageFile is an image file, open, checked against its module.
type memoryImageFile struct {
	f    *os.File
	data uint64 // offset of the image's first byte
	size uint64 // bytes of the image
}

// imageFileName is the name of the image file of the module of digest
// whose memoryImage has digest img: both are part of it, so that no
// snapshot of one module or image is ever restored against another.
func imageFileName(digest string, img [sha256.Size]byte) string {
	return strings.TrimPrefix(digest, "sha256:") + "-" + hex.EncodeToString(img[:]) + imageSuffix
}

// imageModuleDigest returns the digest of the module whose image file is
// named name, and whether name is that of an image file.
func imageModuleDigest(name string) (string, bool) {
	mod, _, ok := strings.Cut(strings.TrimSuffix(name, imageSuffix), "-")
	if !ok || !strings.HasSuffix(name, imageSuffix) || len(mod) != 2*sha256.Size {
		return "", false
	}
	if _, err := hex.DecodeString(mod); err != nil {
		return "", false
	}
	return "sha256:" + mod, true
}

// imageBytes returns the bytes of the module's memory image, built again
// from its data segments, as kept for compiling it.
func (m *Module) imageBytes() ([]byte, error) {
	code, err := m.readCode()
	if err != nil {
		return nil, err
	}
	sections, err := splitSections(code)
	if err != nil {
		return nil, err
	}
	var segs []dataSegment
	for _, s := range sections {
		if s.id == sectionData {
			if segs, err = parseDataSection(s.content); err != nil {
				return nil, err
			}
		}
	}
	mem := make([]byte, uint64(len(m.image.chunks))*snapshotPage)
	for _, s := range segs {
		if uint64(s.offset)+uint64(len(s.data)) > uint64(len(mem)) {
			return nil, fmt.Errorf("a data segment ends past the image")
		}
		copy(mem[s.offset:], s.data)
	}
	if err := m.image.check(mem); err != nil {
		return nil, err
	}
	return mem, nil
}

// check says why mem is not the image, or nil.
func (img *memoryImage) check(mem []byte) error {
	if uint64(len(mem)) != uint64(len(img.chunks))*snapshotPage {
		return fmt.Errorf("image of %d bytes, want %d", len(mem), uint64(len(img.chunks))*snapshotPage)
	}
	return img.checkAt(bytes.NewReader(mem), 0)
}

// checkAt says why the bytes of r from off on are not the image, or nil,
// reading them a few pages at a time.
func (img *memoryImage) checkAt(r io.ReaderAt, off int64) error {
	const batch = 64
	buf := make([]byte, batch*snapshotPage)
	zero := make([]byte, snapshotPage)
	for first := 0; first < len(img.chunks); first += batch {
		n := min(batch, len(img.chunks)-first)
		if _, err := r.ReadAt(buf[:n*snapshotPage], off+int64(first)*snapshotPage); err != nil {
			return err
		}
		for k := range n {
			c, page := first+k, buf[k*snapshotPage:(k+1)*snapshotPage]
			if img.chunks[c] == ([sha256.Size]byte{}) && !bytes.Equal(page, zero) || img.chunks[c] != ([sha256.Size]byte{}) && !img.holds(c, page) {
				return fmt.Errorf("page %d is not the module's", c)
			}
		}
	}
	return nil
}

// imageHeader returns the header of the image file of m.
func (m *Module) imageHeader() []byte {
	var b []byte
	b = append(b, imageMagic...)
	b = binary.LittleEndian.AppendUint32(b, imageVersion)
	b = binary.LittleEndian.AppendUint32(b, 0) // the header's length, below
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Digest)))
	b = append(b, m.Digest...)
	b = append(b, m.image.digest[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(m.image.chunks))*snapshotPage)
	binary.LittleEndian.PutUint32(b[len(imageMagic)+4:], uint32(len(b)+sha256.Size))
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// imagePath returns the path of the module's image file, or "" when it
// has none: no Config.ImageDir, or no data segments.
func (m *Module) imagePath() string {
	if m.runtime.cfg.ImageDir == "" || m.image == nil || len(m.image.chunks) == 0 || m.snapshotErr != nil {
		return ""
	}
	return filepath.Join(m.runtime.cfg.ImageDir, imageFileName(m.Digest, m.image.digest))
}

// ensureImageFile makes sure the module's image file is in place and
// right, writing it anew when it is missing or wrong; an error says why
// snapshots may not refer to it.
func (m *Module) ensureImageFile() error {
	path := m.imagePath()
	if path == "" {
		return fmt.Errorf("the module has no image file")
	}
	if img, err := m.openImageFile(); err == nil {
		_ = img.f.Close()
		return nil
	}
	mem, err := m.imageBytes()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.runtime.cfg.ImageDir, 0o700); err != nil {
		return err
	}
	var fi os.FileInfo
	err = writeFileAtomic(path, func(f *os.File) error {
		head := m.imageHeader()
		if _, err := f.WriteAt(head, 0); err != nil {
			return err
		}
		data := dataOffset(uint64(len(head)))
		_, extents := snapshotRunsOf(mem, nil, nil)
		for _, e := range extents {
			if _, err := f.WriteAt(mem[e.off:e.off+e.len], int64(data+e.off)); err != nil {
				return err
			}
		}
		if err := f.Truncate(int64(data) + int64(len(mem))); err != nil {
			return err
		}
		var err error
		fi, err = f.Stat()
		return err
	})
	if err != nil {
		return err
	}
	m.runtime.snapshots.trust(fi, m.image.digest)
	return nil
}

// openImageFile opens the module's image file and checks it: its header
// always, its pages the first time the runtime uses the file. A file
// that is missing, of another module or image, shorter or longer than its
// header says, or whose pages are not the module's is ErrSnapshotInvalid.
func (m *Module) openImageFile() (*memoryImageFile, error) {
	path := m.imagePath()
	if path == "" {
		return nil, invalid("the module's memory image has no file here")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, invalid("memory image: %v", err)
	}
	img, err := m.checkImageFile(f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return img, nil
}

// checkImageFile checks the image file f of the module (openImageFile).
func (m *Module) checkImageFile(f *os.File) (*memoryImageFile, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, invalid("memory image: %v", err)
	}
	want := m.imageHeader()
	head := make([]byte, len(want))
	if _, err := f.ReadAt(head, 0); err != nil || !bytes.Equal(head, want) {
		return nil, invalid("memory image file of another module or image, or corrupt")
	}
	img := &memoryImageFile{f: f, data: dataOffset(uint64(len(want))), size: uint64(len(m.image.chunks)) * snapshotPage}
	// A file shorter than its pages would fault the process when mapped.
	if uint64(fi.Size()) != img.data+img.size {
		return nil, invalid("memory image file of %d bytes, want %d (truncated?)", fi.Size(), img.data+img.size)
	}
	trust := &m.runtime.snapshots
	if trust.trusted(fi, m.image.digest) {
		return img, nil
	}
	if err := m.image.checkAt(f, int64(img.data)); err != nil {
		return nil, invalid("memory image file: %v", err)
	}
	trust.trust(fi, m.image.digest)
	return img, nil
}
