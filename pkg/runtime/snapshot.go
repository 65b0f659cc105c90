package runtime

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrSnapshotInvalid: a snapshot cannot be restored (not a snapshot, another
// format version, another module, truncated, corrupt, over the memory limit,
// or not matching the module's globals). Nothing was started; instantiate
// the guest afresh instead.
var ErrSnapshotInvalid = errors.New("invalid snapshot")

// The snapshot format, version 1, which WriteSnapshot writes and Restore
// and RestoreFile read (SaveSnapshot writes version 4, snapshot_v2.go). All
// integers are little-endian.
//
//	magic       8 bytes  "WASMSNAP"
//	version     u32      1
//	digest      u16 n, n bytes: the module's digest, "sha256:<hex>"
//	monotonic   i64      the guest's monotonic clock when it was taken
//	walltime    i64      Unix nanoseconds when it was taken
//	memory      u64      size of linear memory in bytes, a multiple of 64 KiB
//	chunk       u32      snapshotChunk: the size of the chunks below
//	image       32 bytes: the digest of the module's memory image (memoryImage)
//	globals     u32 n, then n times: index u32, value type u8, value u64
//	chunks      u32 n, n bytes: the state of each chunk of memory, in order:
//	            0 all zero, 1 as the data segments wrote it, 2 stored
//	pages       u64 n, n bytes: DEFLATE stream of the stored chunks in order
//	checksum    32 bytes: SHA-256 of everything before it
const (
	snapshotMagic   = "WASMSNAP"
	snapshotVersion = 1
	// snapshotChunk is the size of the memory chunks that are stored or
	// skipped (measured in docs/RATIONALE.md).
	snapshotChunk = 4 << 10
	wasmPage      = 64 << 10
	// maxMemory is the largest linear memory a snapshot holds: a 32-bit
	// module's 4 GiB less one page, so that sizes fit a u32.
	maxMemory = 1<<32 - wasmPage
)

// snapshot is a snapshot's content, parsed and checked.
type snapshot struct {
	// version is the format version: 1, snapshotVersion3 or
	// snapshotVersion4.
	version   int
	digest    string
	monotonic int64
	walltime  int64
	memory    uint64
	image     [sha256.Size]byte
	globals   []snapshotGlobal
	states    []byte // chunkZero, chunkImage or chunkStored per chunk
	pages     []byte // compressed

	// Version 2 (snapshot_v2.go): the runs of memory stored, where they
	// start in the file, the digest of their bytes, and the whole file
	// when it was read into memory rather than opened.
	runs        []snapshotRun
	dataOffset  uint64
	pagesDigest [sha256.Size]byte
	file        []byte
	// hot are the runs a restore that maps the snapshot copies in at once
	// (snapshot_hot.go): the pages the wake that took it wrote. Version 4.
	hot []hotRun
}

// The states of a chunk of memory in a snapshot.
const (
	chunkZero   = 0 // all zero
	chunkImage  = 1 // as the module's data segments wrote it
	chunkStored = 2 // in the pages
)

type snapshotGlobal struct {
	index     uint32
	valueType byte
	value     uint64
}

// chunks returns how many chunks memory has.
func (s *snapshot) chunks() uint64 { return s.memory / snapshotChunk }

// encodeSnapshot writes a snapshot of memory, whose content is mem, to w and
// returns the bytes written. Chunks that hold img are not stored.
func encodeSnapshot(w io.Writer, s *snapshot, mem []byte, img *memoryImage) (int64, error) {
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, h)}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var b []byte
	b = append(b, snapshotMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapshotVersion)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.digest)))
	b = append(b, s.digest...)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.monotonic))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.walltime))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(mem)))
	b = binary.LittleEndian.AppendUint32(b, snapshotChunk)
	b = append(b, img.digest[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.globals)))
	for _, g := range s.globals {
		b = binary.LittleEndian.AppendUint32(b, g.index)
		b = append(b, g.valueType)
		b = binary.LittleEndian.AppendUint64(b, g.value)
	}
	states := make([]byte, len(mem)/snapshotChunk)
	zero := make([]byte, snapshotChunk)
	for c := range states {
		switch chunk := mem[c*snapshotChunk : (c+1)*snapshotChunk]; {
		case bytes.Equal(chunk, zero):
			states[c] = chunkZero
		case img.holds(c, chunk):
			states[c] = chunkImage
		default:
			states[c] = chunkStored
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(states)))
	b = append(b, states...)

	var pages bytes.Buffer
	fw, err := flate.NewWriter(&pages, flate.BestSpeed)
	if err != nil {
		return 0, err
	}
	for c, state := range states {
		if state == chunkStored {
			if _, err := fw.Write(mem[c*snapshotChunk : (c+1)*snapshotChunk]); err != nil {
				return 0, err
			}
		}
	}
	if err := fw.Close(); err != nil {
		return 0, err
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(pages.Len()))
	if _, err := bw.Write(b); err != nil {
		return cw.n, err
	}
	if _, err := bw.Write(pages.Bytes()); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return cw.n, err
	}
	return cw.n + sha256.Size, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// invalid returns an error wrapping ErrSnapshotInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSnapshotInvalid, fmt.Sprintf(format, args...))
}

// readSnapshot reads a whole snapshot from r, refusing one larger than a
// snapshot of maxMem bytes of memory could be, and parses it.
func readSnapshot(r io.Reader, maxMem uint64) (*snapshot, error) {
	// DEFLATE never grows data by more than a few bytes per 16 KiB block;
	// the rest is the header, chunk states and checksum.
	limit := int64(maxMem + maxMem/256 + maxMem/snapshotChunk + 1<<20)
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading snapshot: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, invalid("larger than any snapshot of at most %d bytes of memory", maxMem)
	}
	return parseSnapshot(b)
}

// parseSnapshot parses and checks a snapshot's bytes; the compressed pages
// are checked only when decoded, by decodePages.
func parseSnapshot(b []byte) (*snapshot, error) {
	if len(b) < len(snapshotMagic)+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, invalid("not a snapshot (no %q magic)", snapshotMagic)
	}
	switch v := binary.LittleEndian.Uint32(b[len(snapshotMagic):]); {
	case v == snapshotVersion:
	case mappedVersion(v):
		return parseSnapshotV2(b)
	default:
		return nil, invalid("format version %d, this host reads versions %d, %d and %d", v, snapshotVersion, snapshotVersion3, snapshotVersion4)
	}
	if len(b) < sha256.Size {
		return nil, invalid("truncated")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, invalid("checksum mismatch (truncated or corrupt)")
	}
	d := decoder{b: body[len(snapshotMagic)+4:]}
	s := &snapshot{version: snapshotVersion}
	s.digest = string(d.bytes(uint64(d.u16())))
	s.monotonic = int64(d.u64())
	s.walltime = int64(d.u64())
	s.memory = d.u64()
	chunk := d.u32()
	copy(s.image[:], d.bytes(sha256.Size))
	n := d.u32()
	if d.err == nil && uint64(n)*13 > uint64(len(d.b)) {
		return nil, invalid("%d globals do not fit in the snapshot", n)
	}
	for range n {
		s.globals = append(s.globals, snapshotGlobal{index: d.u32(), valueType: d.u8(), value: d.u64()})
	}
	s.states = d.bytes(uint64(d.u32()))
	s.pages = d.bytes(d.u64())
	switch {
	case d.err != nil:
		return nil, invalid("truncated header")
	case len(d.b) != 0:
		return nil, invalid("%d bytes after the pages", len(d.b))
	case chunk != snapshotChunk:
		return nil, invalid("chunk size %d, want %d", chunk, snapshotChunk)
	case s.memory%wasmPage != 0 || s.memory > maxMemory:
		return nil, invalid("memory size %d is not a number of 64 KiB pages below 4 GiB", s.memory)
	case uint64(len(s.states)) != s.chunks():
		return nil, invalid("%d chunk states for %d chunks", len(s.states), s.chunks())
	}
	for c, state := range s.states {
		if state > chunkStored {
			return nil, invalid("chunk %d has state %d", c, state)
		}
	}
	return s, nil
}

// decodePages decompresses the stored chunks into mem, which has the
// snapshot's memory size and holds a fresh instance's memory: the module's
// image below dirty, zero above it. Zero chunks below dirty are cleared.
func decodePages(s *snapshot, mem []byte, dirty uint64) error {
	if uint64(len(mem)) != s.memory {
		return invalid("memory of %d bytes, want %d", len(mem), s.memory)
	}
	fr := flate.NewReader(bytes.NewReader(s.pages))
	defer fr.Close()
	for c := range s.chunks() {
		chunk := mem[c*snapshotChunk : (c+1)*snapshotChunk]
		switch s.states[c] {
		case chunkZero:
			if c*snapshotChunk < dirty {
				clear(chunk)
			}
			continue
		case chunkImage:
			if c*snapshotChunk >= dirty {
				return invalid("chunk %d is marked as the module's data, which ends before it", c)
			}
			continue
		}
		if _, err := io.ReadFull(fr, chunk); err != nil {
			return invalid("pages end early at chunk %d: %v", c, err)
		}
	}
	if n, err := fr.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		return invalid("pages have more data than the chunk states say")
	}
	return nil
}

// decoder reads little-endian fields, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}
