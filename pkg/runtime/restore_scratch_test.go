package runtime

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// TestRestore_StartsOnScratch checks that a snapshot restored from its file
// is given the runtime's scratch memory rather than its own memory backed
// only to be replaced, and that the memory it ends with is the snapshot's,
// whatever the scratch buffer held before: mapped, or read when it is not
// mapped (the memory then moves off the scratch buffer). A module without
// a start function has its data segments written by the runtime, not on
// scratch: the buffer is neither written nor cleared. With one, wazero
// writes them to the buffer, zeroed first but for them, and the memory
// moves off it with what they wrote.
func TestRestore_StartsOnScratch(t *testing.T) {
	for _, start := range []bool{false, true} {
		t.Run(fmt.Sprintf("start=%v", start), func(t *testing.T) {
			testRestoreStartsOnScratch(t, start)
		})
	}
}

func testRestoreStartsOnScratch(t *testing.T, start bool) {
	tm := driverModule()
	n := uint32(len(driverImports))
	// _initialize grows memory by a page: a snapshot is larger than the
	// module's initial memory.
	tm.funcs = append(tm.funcs, testFunc{body: growOne})
	tm.exports = append(tm.exports, testExport{name: "_initialize", index: n + 2})
	if start {
		tm.funcs = append(tm.funcs, testFunc{})
		tm.start = n + 3 + 1
	}
	tm.data = []testData{{offset: 100, bytes: []byte{7, 7}}, {offset: wasmPage + 5, bytes: []byte{9}}}
	r := newTemplateTestRuntime(t, 0)
	m := loadTest(t, r, tm)
	if got := m.init != nil; got == start {
		t.Fatalf("data segments written by the runtime: %v, want %v", got, !start)
	}
	cfg := InstanceConfig{Name: "test/restore", MemoryLimit: 16 << 20}
	first := startTest(t, m, cfg.Name)
	size := first.module.Memory().Size()
	if size != 3*wasmPage {
		t.Fatalf("memory of %d bytes after init, want 3 pages", size)
	}
	mem, _ := first.module.Memory().Read(0, size)
	want := bytes.Clone(mem)
	if want[100] != 7 || want[101] != 7 || want[wasmPage+5] != 9 {
		t.Fatalf("fresh memory holds %d %d %d at 100, 101, 64 KiB+5: want the data segments' 7 7 9", want[100], want[101], want[wasmPage+5])
	}
	path := filepath.Join(t.TempDir(), "snapshot")
	if _, err := first.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		mapLimit int
	}{
		{name: "mapped"},
		{name: "read", mapLimit: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The scratch buffer holds what another instance left.
			junk := r.scratch.get(4*wasmPage, nil, true)
			if junk == nil {
				t.Skip("no mapped scratch memory here")
			}
			for k := range junk {
				junk[k] = 0xff
			}
			r.scratch.put(junk)
			r.SetSnapshotMapLimit(tc.mapLimit)
			defer r.SetSnapshotMapLimit(0)

			inst, err := m.RestoreFile(t.Context(), cfg, path)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(context.Background())
			if inst.memoryBuf == nil || inst.memoryBuf.scratch != nil {
				t.Fatal("the restored memory is not a mapping of its own")
			}
			got, ok := inst.module.Memory().Read(0, inst.module.Memory().Size())
			if !ok || !bytes.Equal(got, want) {
				t.Errorf("restored memory differs from the snapshot's (%d bytes, want %d)", len(got), len(want))
			}
			r.scratch.mu.Lock()
			idle := r.scratch.idle
			r.scratch.mu.Unlock()
			if len(idle) < 2*wasmPage {
				t.Fatalf("scratch buffer of %d bytes kept, want the one of 4 pages back", len(idle))
			}
			at := []byte{idle[100], idle[wasmPage+5], idle[0], idle[2*wasmPage-1]}
			wantAt, what := []byte{0xff, 0xff, 0xff, 0xff}, "as it was handed out"
			if start {
				wantAt, what = []byte{7, 9, 0, 0}, "the data segments written to it (7, 9) and the rest of the initial memory zero"
			}
			if !bytes.Equal(at, wantAt) {
				t.Errorf("scratch buffer holds %#x at 100, 64 KiB+5, 0 and 128 KiB-1: want %#x, %s", at, wantAt, what)
			}
		})
	}
}

// TestScratchMemory_ClearedButWritten checks that a scratch buffer handed
// out again for a module is zero but for the ranges its data segments
// write whole, which keep what they held until then.
func TestScratchMemory_ClearedButWritten(t *testing.T) {
	var s scratchMemory
	defer s.close()
	b := s.get(3*wasmPage, nil, true)
	if b == nil {
		t.Skip("no mapped scratch memory here")
	}
	for k := range b {
		b[k] = 1
	}
	s.put(b)
	written := [][2]uint64{{10, 20}, {wasmPage, wasmPage + 1}, {2*wasmPage - 1, 4 * wasmPage}}
	b = s.get(2*wasmPage, written, true)
	defer s.put(b)
	for k, v := range b[:2*wasmPage] {
		kept := false
		for _, r := range written {
			kept = kept || (uint64(k) >= r[0] && uint64(k) < r[1])
		}
		if want := map[bool]byte{true: 1, false: 0}[kept]; v != want {
			t.Fatalf("byte %d is %d, want %d", k, v, want)
		}
	}
}

// TestAppendRange checks how the ranges a module's data segments write are
// kept: in order, apart, touching ones joined.
func TestAppendRange(t *testing.T) {
	tests := []struct {
		name     string
		ranges   [][2]uint64
		off, end uint64
		want     [][2]uint64
	}{
		{name: "first", off: 4, end: 8, want: [][2]uint64{{4, 8}}},
		{name: "empty", ranges: [][2]uint64{{0, 4}}, off: 6, end: 6, want: [][2]uint64{{0, 4}}},
		{name: "touching", ranges: [][2]uint64{{0, 4}}, off: 4, end: 9, want: [][2]uint64{{0, 9}}},
		{name: "apart", ranges: [][2]uint64{{0, 4}}, off: 5, end: 9, want: [][2]uint64{{0, 4}, {5, 9}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := appendRange(tc.ranges, tc.off, tc.end); !slices.Equal(got, tc.want) {
				t.Errorf("appendRange = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLimitedMemory_LeavesScratch checks that a memory started on scratch
// memory leaves it when it grows to the size a template or snapshot is
// mapped at, whatever its initial size (a module may have none): it must
// never keep, as its own, a buffer that goes back to the pool.
func TestLimitedMemory_LeavesScratch(t *testing.T) {
	for _, initial := range []uint64{0, wasmPage} {
		t.Run(fmt.Sprint(initial), func(t *testing.T) {
			var s scratchMemory
			defer s.close()
			if b := s.get(4*wasmPage, nil, true); b != nil {
				s.put(b) // an idle buffer, as after another instance
			} else {
				t.Skip("no mapped scratch memory here")
			}
			hit := false
			m := limitedAllocator{limit: 8 * wasmPage, hit: &hit, scratchUntil: 2 * wasmPage, scratch: &s}.Allocate(initial, 8*wasmPage).(*limitedMemory)
			defer m.Free()
			m.Reallocate(initial)
			m.lazy = true
			buf := m.Reallocate(2 * wasmPage)
			m.lazy = false
			if uint64(len(buf)) != 2*wasmPage || m.scratch != nil || &buf[0] != &m.buf[0] {
				t.Errorf("memory of %d bytes, scratch %v: want 2 pages of its own mapping", len(buf), m.scratch != nil)
			}
		})
	}
}
