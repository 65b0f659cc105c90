package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// testSnapshot returns a valid snapshot of 3 pages of memory holding some
// data, some zero chunks, and two globals.
func testSnapshot(t testing.TB) []byte {
	mem := make([]byte, 3*wasmPage)
	copy(mem[100:], "hello")
	copy(mem[snapshotChunk:], "new")
	for i := range 5000 {
		mem[2*wasmPage+i] = byte(i)
	}
	s := &snapshot{digest: "sha256:00", monotonic: 1 << 40, walltime: 1, globals: []snapshotGlobal{
		{index: 0, valueType: valueI32, value: 7}, {index: 3, valueType: valueI64, value: 1 << 50}},
		// Pages 1 and 2, and 20, are zero: not stored, they are left out.
		hot: append([]hotRun{{off: 0, len: 3 * snapshotPage}, {off: 20 * snapshotPage, len: snapshotPage, age: 2}}, testHot[1:]...)}
	var buf bytes.Buffer
	// The image holds the first chunk, as it is, and the one after "hello",
	// which no longer matches.
	img := newMemoryImage([]section{{id: sectionData, content: encodeDataSection([]dataSegment{
		{offset: 0, data: mem[:snapshotChunk]}, {offset: snapshotChunk, data: []byte("old")}})}})
	if _, err := encodeSnapshot(&buf, s, mem, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshot_EncodeDecode(t *testing.T) {
	b := testSnapshot(t)
	s, err := readSnapshot(bytes.NewReader(b), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	mem := bytes.Repeat([]byte{0xff}, int(s.memory)) // dirty: zero chunks must be cleared
	if err := decodePages(s, mem, s.memory); err != nil {
		t.Fatal(err)
	}
	if string(s.states[:3]) != "\x01\x02\x00" {
		t.Errorf("chunk states %v, want image, stored, zero", s.states[:3])
	}
	if string(mem[100:105]) != "\xff\xff\xff\xff\xff" || string(mem[snapshotChunk:snapshotChunk+3]) != "new" || mem[2*wasmPage+4999] != byte(4999%256) || mem[wasmPage] != 0 {
		t.Errorf("decoded memory differs")
	}
	if len(s.globals) != 2 || s.globals[1].value != 1<<50 || s.monotonic != 1<<40 {
		t.Errorf("decoded header = %+v", s)
	}
	huge := append(bytes.Clone(b), make([]byte, 2<<20)...)
	if _, err := readSnapshot(bytes.NewReader(huge), wasmPage); !errors.Is(err, ErrSnapshotInvalid) {
		t.Errorf("file larger than a snapshot within the memory limit can be: error %v, want ErrSnapshotInvalid", err)
	}
}

// testSnapshotV2 returns a valid version 4 snapshot of 3 pages of memory
// (48 snapshot pages): runs merged across a short gap of zero pages, and
// one after a long gap, with two globals and two hot runs; and the memory.
func testSnapshotV2(t testing.TB) ([]byte, []byte) {
	mem := make([]byte, 3*wasmPage)
	copy(mem[100:], "hello")
	copy(mem[3*snapshotPage:], "after a gap of two pages")
	for i := range 5000 {
		mem[2*wasmPage+i] = byte(i)
	}
	s := &snapshot{digest: "sha256:00", monotonic: 1 << 40, walltime: 1, globals: []snapshotGlobal{
		{index: 0, valueType: valueI32, value: 7}, {index: 3, valueType: valueI64, value: 1 << 50}},
		// Pages 1 and 2, and 20, are zero: not stored, they are left out.
		hot: append([]hotRun{{off: 0, len: 3 * snapshotPage}, {off: 20 * snapshotPage, len: snapshotPage, age: 2}}, testHot[1:]...)}
	path := filepath.Join(t.TempDir(), "snap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := encodeSnapshotV2(f, s, mem, nil, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, mem
}

// testHot are testSnapshotV2's hot runs: pages it stores.
var testHot = []hotRun{{off: 0, len: snapshotPage, age: 0}, {off: 2 * wasmPage, len: 2 * snapshotPage, age: maxHotAge - 1}}

func TestSnapshotV2_EncodeDecode(t *testing.T) {
	b, want := testSnapshotV2(t)
	s, err := readSnapshot(bytes.NewReader(b), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	wantRuns := []snapshotRun{{off: 0, len: 4 * snapshotPage}, {off: 2 * wasmPage, len: 2 * snapshotPage}}
	if s.version != snapshotVersion4 || len(s.runs) != 2 || s.runs[0] != wantRuns[0] || s.runs[1] != wantRuns[1] {
		t.Errorf("version %d, runs %+v, want 4, %+v", s.version, s.runs, wantRuns)
	}
	if !slices.Equal(s.hot, testHot) {
		t.Errorf("hot runs %+v, want %+v", s.hot, testHot)
	}
	if s.dataOffset%snapshotPage != 0 || uint64(len(b)) != s.dataOffset+2*wasmPage+2*snapshotPage {
		t.Errorf("data at %d, file of %d bytes", s.dataOffset, len(b))
	}
	mem := bytes.Repeat([]byte{0xff}, int(s.memory)) // dirty: what is outside the runs must be cleared
	if err := readRuns(bytes.NewReader(s.file), nil, s, mem, s.memory, true); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mem, want) {
		t.Errorf("decoded memory differs")
	}
	if len(s.globals) != 2 || s.globals[1].value != 1<<50 || s.monotonic != 1<<40 || s.digest != "sha256:00" {
		t.Errorf("decoded header = %+v", s)
	}
}

// withHeaderSum makes the header checksum of what may be a version 3 or 4
// snapshot valid, when its length field allows.
func withHeaderSum(b []byte) []byte {
	if len(b) < 16 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(b[12:]))
	if n < 16+sha256.Size || n > len(b) {
		return nil
	}
	b = bytes.Clone(b)
	sum := sha256.Sum256(b[:n-sha256.Size])
	copy(b[n-sha256.Size:n], sum[:])
	return b
}

// FuzzReadSnapshot feeds arbitrary bytes to the snapshot reader (format
// versions 1, 3 and 4), as read and with the checksum (of the whole file,
// or of a version 3 or 4 header) made valid so that parsing goes past it. It must
// refuse what it cannot read with ErrSnapshotInvalid and never panic.
func FuzzReadSnapshot(f *testing.F) {
	valid := testSnapshot(f)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(snapshotMagic + "\x01\x00\x00\x00"))
	v2, _ := testSnapshotV2(f)
	f.Add(v2)
	f.Add(v2[:len(v2)-1])
	f.Add(v2[:snapshotPage])
	v3, err := parseSnapshotV2(v2)
	if err != nil {
		f.Fatal(err)
	}
	old := bytes.Clone(v2) // the same data offset: the header is shorter
	clear(old[:v3.dataOffset])
	copy(old, v3.appendHeader(nil, snapshotVersion3))
	f.Add(old)
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(b []byte) {
			s, err := readSnapshot(bytes.NewReader(b), 16<<20)
			if err != nil {
				if !errors.Is(err, ErrSnapshotInvalid) {
					t.Fatalf("error %v does not wrap ErrSnapshotInvalid", err)
				}
				return
			}
			if s.memory > 16<<20 {
				return // Restore refuses it against the memory limit
			}
			if mappedVersion(uint32(s.version)) {
				if err := checkHotRuns(s.hot, s.memory); err != nil {
					t.Fatalf("hot runs read that do not check: %v", err)
				}
				err = readRuns(bytes.NewReader(s.file), nil, s, make([]byte, s.memory), s.memory, true)
			} else {
				err = decodePages(s, make([]byte, s.memory), s.memory)
			}
			if err != nil && !errors.Is(err, ErrSnapshotInvalid) {
				t.Fatalf("decoding pages: error %v does not wrap ErrSnapshotInvalid", err)
			}
		}
		check(data)
		if len(data) >= sha256.Size {
			body := data[:len(data)-sha256.Size]
			sum := sha256.Sum256(body)
			check(append(bytes.Clone(body), sum[:]...))
		}
		if b := withHeaderSum(data); b != nil {
			check(b)
		}
	})
}
