package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// The snapshot format, version 4, written by SaveSnapshot: memory is stored
// uncompressed, page by page at the file offset of its address, so that a
// restore maps it copy-on-write instead of inflating it (restore_v2.go).
// Pages that still hold what the module's data segments wrote are not
// stored: they are mapped from the module's image file (snapshot_image.go).
// Version 3 is version 4 without the hot runs; it is still read. Version 2,
// version 3 without the image file, was never released and is not read.
// All integers are little-endian.
//
//	magic       8 bytes  "WASMSNAP"
//	version     u32      4
//	header      u32      length in bytes of the header: everything up to
//	                     and including its checksum
//	digest      u16 n, n bytes: the module's digest, "sha256:<hex>"
//	monotonic   i64      the guest's monotonic clock when it was taken
//	walltime    i64      Unix nanoseconds when it was taken
//	memory      u64      size of linear memory in bytes, a multiple of 64 KiB
//	page        u32      snapshotPage: the unit of the runs below
//	image       32 bytes: the digest of the module's memoryImage whose
//	            file the image runs are in; zero when there are none
//	globals     u32 n, then n times: index u32, value type u8, value u64
//	runs        u32 n, then n times: first page u32, pages u32, from u8
//	            (0 this file, 1 the image file); in address order, not
//	            overlapping: the runs of memory that are not zero
//	hot         u32 n, then n times: first page u32, pages u32, age u8;
//	            in address order, not overlapping, at most maxHotPages
//	            pages, each age below maxHotAge: pages of the stored runs
//	            that a restore copies in before the guest runs
//	            (snapshot_hot.go); version 4 only
//	pages       32 bytes: SHA-256 of the stored runs' bytes, in order
//	checksum    32 bytes: SHA-256 of the header before it
//
// The data starts at the header's length rounded up to a page, D: the byte
// of memory at address a, inside a stored run, is at offset D+a of the
// file, and the file ends at the end of the last stored run (at D when
// there is none); inside an image run, it is the image's byte at a.
// Memory outside the runs is zero. Inside a run, pages that are zero are
// holes of a sparse file: the writer merges runs of one kind across gaps
// of at most snapshotGap zero pages, so that a restore maps few regions.
const (
	snapshotVersion3 = 3
	snapshotVersion4 = 4
	// snapshotPage is the unit of the runs and the alignment of the data:
	// the page size of the platforms that map snapshots.
	snapshotPage = 4096
	// snapshotGap is the longest run of zero pages that the runs around it
	// are merged across.
	snapshotGap = 8
	// maxHeaderFixed bounds the header but for its runs: the fixed fields,
	// a digest of up to 64 KiB and a million globals.
	maxHeaderFixed = 1 << 24
)

// snapshotRun is a run of memory of a version 3 or 4 snapshot, in bytes.
type snapshotRun struct {
	off, len uint64
	// image says that the run is in the module's image file, not stored.
	image bool
}

// maxSnapshotHeader is the longest header of a snapshot of at most maxMem
// bytes of memory: runs are not empty, so there is at most one a page, and
// so are hot runs, of at most maxHotPages pages.
func maxSnapshotHeader(maxMem uint64) uint64 {
	return maxHeaderFixed + (maxMem/snapshotPage+1)*9 + 4 + maxHotPages*9
}

// mappedVersion says whether v is a format version whose memory is stored
// page by page, to be mapped: 3 or 4.
func mappedVersion(v uint32) bool {
	return v == snapshotVersion3 || v == snapshotVersion4
}

// dataOffset returns where the data of a snapshot whose header is n bytes
// long starts.
func dataOffset(n uint64) uint64 {
	return (n + snapshotPage - 1) / snapshotPage * snapshotPage
}

// encodeSnapshotV2 writes a version 4 snapshot of memory, whose content is
// mem, to f, a new file, and returns its size and the digest of its pages.
// Only the pages that are not zero, and not held by img (nil when the
// module's image file is not to be used), are written; the others are
// holes. Of the hot runs s.hot, it keeps those of pages it writes
// (storedOnly). s is given the memory's size, image, runs, hot runs and
// pages digest written.
func encodeSnapshotV2(f *os.File, s *snapshot, mem []byte, img *memoryImage, hints []pageHint) (int64, [sha256.Size]byte, error) {
	var pages [sha256.Size]byte
	if len(mem)%snapshotPage != 0 {
		return 0, pages, fmt.Errorf("memory of %d bytes is not a whole number of pages", len(mem))
	}
	runs, extents := snapshotRunsOf(mem, img, hints)
	s.hot = storedOnly(s.hot, extents)
	h := sha256.New()
	var image [sha256.Size]byte
	size := uint64(0) // the end of the last stored run
	for _, r := range runs {
		if r.image {
			image = img.digest
			continue
		}
		h.Write(mem[r.off : r.off+r.len])
		size = r.off + r.len
	}
	copy(pages[:], h.Sum(nil))
	s.memory, s.image, s.runs, s.pagesDigest = uint64(len(mem)), image, runs, pages
	b := s.appendHeader(nil, snapshotVersion4)

	if _, err := f.WriteAt(b, 0); err != nil {
		return 0, pages, err
	}
	data := dataOffset(uint64(len(b)))
	for _, e := range extents {
		if _, err := f.WriteAt(mem[e.off:e.off+e.len], int64(data+e.off)); err != nil {
			return 0, pages, err
		}
	}
	size += data
	// The file is new: sizing it here never changes pages anyone maps.
	if err := f.Truncate(int64(size)); err != nil {
		return 0, pages, err
	}
	return int64(size), pages, nil
}

// appendHeader appends the header of s in format version (3 or 4, which
// alone has the hot runs) to b.
func (s *snapshot) appendHeader(b []byte, version uint32) []byte {
	start := len(b)
	b = append(b, snapshotMagic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint32(b, 0) // the header's length, below
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.digest)))
	b = append(b, s.digest...)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.monotonic))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.walltime))
	b = binary.LittleEndian.AppendUint64(b, s.memory)
	b = binary.LittleEndian.AppendUint32(b, snapshotPage)
	b = append(b, s.image[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.globals)))
	for _, g := range s.globals {
		b = binary.LittleEndian.AppendUint32(b, g.index)
		b = append(b, g.valueType)
		b = binary.LittleEndian.AppendUint64(b, g.value)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.runs)))
	for _, r := range s.runs {
		// Memory is below 4 GiB: a page index and count fit a u32.
		b = binary.LittleEndian.AppendUint32(b, uint32(r.off/snapshotPage))
		b = binary.LittleEndian.AppendUint32(b, uint32(r.len/snapshotPage))
		b = append(b, boolByte(r.image))
	}
	if version == snapshotVersion4 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s.hot)))
		for _, r := range s.hot {
			b = binary.LittleEndian.AppendUint32(b, uint32(r.off/snapshotPage))
			b = binary.LittleEndian.AppendUint32(b, uint32(r.len/snapshotPage))
			b = append(b, r.age)
		}
	}
	b = append(b, s.pagesDigest[:]...)
	binary.LittleEndian.PutUint32(b[start+len(snapshotMagic)+4:], uint32(len(b)-start+sha256.Size))
	sum := sha256.Sum256(b[start:])
	return append(b, sum[:]...)
}

// readSnapshotV2Header reads and checks the header of a version 3 or 4
// snapshot from r, whose size is size, for memory of at most maxMem bytes.
// The file must cover the runs the header lists.
func readSnapshotV2Header(r io.ReaderAt, size int64, maxMem uint64) (*snapshot, error) {
	head := make([]byte, len(snapshotMagic)+8)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, invalid("truncated header")
	}
	n := uint64(binary.LittleEndian.Uint32(head[len(snapshotMagic)+4:]))
	if n > maxSnapshotHeader(maxMem) || n > uint64(size) {
		return nil, invalid("header of %d bytes does not fit a file of %d bytes of memory at most %d", n, size, maxMem)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, invalid("truncated header")
	}
	s, err := parseSnapshotV2Header(b)
	if err != nil {
		return nil, err
	}
	if want := s.fileSize(); uint64(size) != want {
		return nil, invalid("file of %d bytes, its runs need %d (truncated?)", size, want)
	}
	return s, nil
}

// parseSnapshotV2Header parses and checks the header of a version 3 or 4
// snapshot, b, which is exactly as long as it says.
func parseSnapshotV2Header(b []byte) (*snapshot, error) {
	if len(b) < len(snapshotMagic)+8+sha256.Size || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, invalid("not a snapshot (no %q magic)", snapshotMagic)
	}
	version := binary.LittleEndian.Uint32(b[len(snapshotMagic):])
	if !mappedVersion(version) {
		return nil, invalid("format version %d, want %d or %d", version, snapshotVersion3, snapshotVersion4)
	}
	if n := binary.LittleEndian.Uint32(b[len(snapshotMagic)+4:]); uint64(n) != uint64(len(b)) {
		return nil, invalid("header of %d bytes, %d read", n, len(b))
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, invalid("header checksum mismatch (truncated or corrupt)")
	}
	d := decoder{b: body[len(snapshotMagic)+8:]}
	s := &snapshot{version: int(version), dataOffset: dataOffset(uint64(len(b)))}
	s.digest = string(d.bytes(uint64(d.u16())))
	s.monotonic = int64(d.u64())
	s.walltime = int64(d.u64())
	s.memory = d.u64()
	page := d.u32()
	copy(s.image[:], d.bytes(sha256.Size))
	n := d.u32()
	if d.err == nil && uint64(n)*13 > uint64(len(d.b)) {
		return nil, invalid("%d globals do not fit in the header", n)
	}
	for range n {
		s.globals = append(s.globals, snapshotGlobal{index: d.u32(), valueType: d.u8(), value: d.u64()})
	}
	n = d.u32()
	if d.err == nil && uint64(n)*9 > uint64(len(d.b)) {
		return nil, invalid("%d runs do not fit in the header", n)
	}
	s.runs = make([]snapshotRun, 0, n)
	for range n {
		first, pages, from := uint64(d.u32()), uint64(d.u32()), d.u8()
		if from > 1 {
			return nil, invalid("run from %d, not 0 (this file) or 1 (the image)", from)
		}
		s.runs = append(s.runs, snapshotRun{off: first * snapshotPage, len: pages * snapshotPage, image: from == 1})
	}
	if version == snapshotVersion4 {
		n = d.u32()
		if d.err == nil && uint64(n) > maxHotPages {
			return nil, invalid("%d hot runs, at most %d", n, maxHotPages)
		}
		for range n {
			first, pages := uint64(d.u32()), uint64(d.u32())
			s.hot = append(s.hot, hotRun{off: first * snapshotPage, len: pages * snapshotPage, age: d.u8()})
		}
	}
	copy(s.pagesDigest[:], d.bytes(sha256.Size))
	switch {
	case d.err != nil:
		return nil, invalid("truncated header")
	case len(d.b) != 0:
		return nil, invalid("%d bytes after the header's fields", len(d.b))
	case page != snapshotPage:
		return nil, invalid("page size %d, want %d", page, snapshotPage)
	case s.memory%wasmPage != 0 || s.memory > maxMemory:
		return nil, invalid("memory size %d is not a number of 64 KiB pages below 4 GiB", s.memory)
	}
	// Runs are in order, not empty, not overlapping, inside memory. In
	// u64, no sum of a page index and count can overflow.
	var end uint64
	for k, r := range s.runs {
		if r.len == 0 || r.off+r.len > s.memory || (k > 0 && r.off < end) {
			return nil, invalid("run %d (pages %d+%d) is empty, out of order or outside memory of %d bytes", k, r.off/snapshotPage, r.len/snapshotPage, s.memory)
		}
		if r.image && s.image == ([sha256.Size]byte{}) {
			return nil, invalid("run %d is from an image the header does not name", k)
		}
		end = r.off + r.len
	}
	if err := checkHotRuns(s.hot, s.memory); err != nil {
		return nil, err
	}
	return s, nil
}

// fileSize is the size of the file a version 3 or 4 snapshot is in.
func (s *snapshot) fileSize() uint64 {
	for k := len(s.runs) - 1; k >= 0; k-- {
		if !s.runs[k].image {
			return s.dataOffset + s.runs[k].off + s.runs[k].len
		}
	}
	return s.dataOffset
}

// imageRuns says whether some runs of s are in the module's image file.
func (s *snapshot) imageRuns() bool {
	for _, r := range s.runs {
		if r.image {
			return true
		}
	}
	return false
}

// boolByte is 1 for true, 0 for false.
func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// parseSnapshotV2 parses a whole version 3 or 4 snapshot file held in b.
func parseSnapshotV2(b []byte) (*snapshot, error) {
	s, err := readSnapshotV2Header(bytes.NewReader(b), int64(len(b)), maxMemory)
	if err != nil {
		return nil, err
	}
	s.file = b
	return s, nil
}
