package runtime

import (
	"bytes"
	"crypto/sha256"
	"errors"
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
		{index: 0, valueType: valueI32, value: 7}, {index: 3, valueType: valueI64, value: 1 << 50}}}
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

// FuzzReadSnapshot feeds arbitrary bytes to the snapshot reader, as read and
// with the checksum made valid so that parsing goes past it. It must
// refuse what it cannot read with ErrSnapshotInvalid and never panic.
func FuzzReadSnapshot(f *testing.F) {
	valid := testSnapshot(f)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(snapshotMagic + "\x01\x00\x00\x00"))
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
			if err := decodePages(s, make([]byte, s.memory), s.memory); err != nil && !errors.Is(err, ErrSnapshotInvalid) {
				t.Fatalf("decodePages error %v does not wrap ErrSnapshotInvalid", err)
			}
		}
		check(data)
		if len(data) >= sha256.Size {
			body := data[:len(data)-sha256.Size]
			sum := sha256.Sum256(body)
			check(append(bytes.Clone(body), sum[:]...))
		}
	})
}
