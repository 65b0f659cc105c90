package runtime

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// module builds a minimal module with one memory and the given data section
// content, and a data count section when withCount is set.
func module(data []byte, withCount bool, count uint32) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 5, 3, 1, 0, 2) // memory section: 1 memory, min 2 pages
	if withCount {
		b = append(b, sectionDataCount)
		c := binary.AppendUvarint(nil, uint64(count))
		b = append(b, byte(len(c)))
		b = append(b, c...)
	}
	b = append(b, sectionData)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

func TestMergeDataSegments(t *testing.T) {
	segs := []dataSegment{{offset: 100, data: []byte("ab")}, {offset: 102, data: []byte("cd")}, {offset: 110, data: []byte("e")},
		{offset: 100 + maxSegmentGap + 200, data: []byte("far")}}
	wasm := module(encodeDataSection(segs), true, uint32(len(segs)))
	got := mergeDataSegments(wasm)
	want := module(encodeDataSection([]dataSegment{
		{offset: 100, data: []byte("abcd\x00\x00\x00\x00\x00\x00e")},
		{offset: 100 + maxSegmentGap + 200, data: []byte("far")},
	}), true, 2)
	if !bytes.Equal(got, want) {
		t.Errorf("merged module:\n got %x\nwant %x", got, want)
	}

	for name, data := range map[string][]byte{
		"overlapping":   encodeDataSection([]dataSegment{{offset: 100, data: []byte("abc")}, {offset: 101, data: []byte("x")}}),
		"passive":       {1, 1, 1, 'a'},
		"global offset": {1, 0, 0x23, 0, 0x0b, 1, 'a'},
		"truncated":     encodeDataSection(segs)[:10],
	} {
		in := module(data, false, 0)
		if out := mergeDataSegments(in); !bytes.Equal(out, in) {
			t.Errorf("%s: module changed, want it unchanged", name)
		}
	}
}

func TestAppendS32(t *testing.T) {
	for _, v := range []int32{0, 1, 63, 64, -1, -64, -65, 1 << 20, 1<<31 - 1, -1 << 31} {
		got, n := readS32(appendS32(nil, v))
		if n == 0 || got != v {
			t.Errorf("round trip of %d: got %d (n=%d)", v, got, n)
		}
	}
}

func FuzzMergeDataSegments(f *testing.F) {
	f.Add(module(encodeDataSection([]dataSegment{{offset: 8, data: []byte("x")}, {offset: 9, data: []byte("y")}}), true, 2))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out := mergeDataSegments(wasm)
		// Merging what was merged changes nothing more.
		if again := mergeDataSegments(out); !bytes.Equal(again, out) {
			t.Errorf("not idempotent")
		}
	})
}

// TestMergeDataSegments_GoGuest checks a real Go guest: far fewer segments,
// and memory after the data segments are applied is the same byte for byte.
func TestMergeDataSegments_GoGuest(t *testing.T) {
	wasm := guesttest.Build(t, "echo")
	merged := mergeDataSegments(wasm)
	before, after := countSegments(t, wasm), countSegments(t, merged)
	t.Logf("data segments: %d before, %d after merging", before, after)
	if after >= before/10 {
		t.Errorf("data segments: %d before, %d after merging; want at least 10x fewer", before, after)
	}
	ctx := t.Context()
	// The interpreter: data segments are applied the same way, and
	// preparing the module costs a fraction of compiling it, which
	// matters under the race detector.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	if err := instantiateHostModule(ctx, r); err != nil {
		t.Fatal(err)
	}
	memoryOf := func(b []byte) []byte {
		// No start functions: memory holds exactly what the data segments wrote.
		mod, err := r.InstantiateWithConfig(ctx, b, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		defer mod.Close(ctx)
		m, _ := mod.Memory().Read(0, mod.Memory().Size())
		return append([]byte(nil), m...)
	}
	if !bytes.Equal(memoryOf(wasm), memoryOf(merged)) {
		t.Errorf("memory differs after merging data segments")
	}
}

func countSegments(t *testing.T, wasm []byte) int {
	t.Helper()
	for r := wasm[8:]; len(r) > 0; {
		size, n := readU32(r[1:])
		if r[0] == sectionData {
			count, _ := readU32(r[1+n:])
			return int(count)
		}
		r = r[1+n+int(size):]
	}
	t.Fatal("no data section")
	return 0
}
