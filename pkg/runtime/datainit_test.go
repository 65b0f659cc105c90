package runtime

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"unsafe"
)

// TestStripData checks which modules are compiled without their data
// segments, for the runtime to write them: the segments become as many
// empty passive ones, and everything else is left as it was.
func TestStripData(t *testing.T) {
	placed := []testData{{offset: 100, bytes: []byte("abc")}, {offset: wasmPage + 5, bytes: []byte("xyz")}}
	withStart := driverModule()
	withStart.data = placed
	withStart.funcs = append(withStart.funcs, testFunc{})
	withStart.start = uint32(len(driverImports)) + 2 + 1
	outOfBounds := driverModule()
	outOfBounds.data = []testData{{offset: 2*wasmPage - 2, bytes: []byte("four")}}
	overlapping := driverModule()
	overlapping.data = []testData{{offset: 10, bytes: []byte("abc")}, {offset: 11, bytes: []byte("z")}}
	noMemory := driverModule()
	noMemory.memPages = 0
	noMemory.exports = noMemory.exports[1:]
	noMemory.data = placed
	tests := []struct {
		name     string
		mod      testModule
		stripped bool
	}{
		{name: "placed", mod: func() testModule { m := driverModule(); m.data = placed; return m }(), stripped: true},
		{name: "ending at the initial memory", mod: func() testModule {
			m := driverModule()
			m.data = []testData{{offset: 2*wasmPage - 4, bytes: []byte("four")}}
			return m
		}(), stripped: true},
		{name: "no data segments", mod: driverModule()},
		{name: "start function", mod: withStart},
		{name: "past the initial memory", mod: outOfBounds},
		{name: "overlapping", mod: overlapping},
		{name: "no memory", mod: noMemory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := tc.mod.encode()
			out, init := stripData(code)
			if !tc.stripped {
				if init != nil || !bytes.Equal(out, code) {
					t.Fatalf("stripData changed the module (%d segments to write), want it unchanged", len(init.segs))
				}
				return
			}
			if init == nil {
				t.Fatal("stripData left the module unchanged, want its data segments separated")
			}
			for k, s := range init.segs {
				if d := tc.mod.data[k]; s.offset != d.offset || !bytes.Equal(s.data, d.bytes) {
					t.Errorf("segment %d is %q at %d, want %q at %d", k, s.data, s.offset, d.bytes, d.offset)
				}
			}
			before, _ := splitSections(code)
			after, err := splitSections(out)
			if err != nil || len(after) != len(before) {
				t.Fatalf("%d sections after (%v), want %d", len(after), err, len(before))
			}
			for k := range before {
				want := before[k].content
				if before[k].id == sectionData {
					want = []byte{byte(len(tc.mod.data))}
					for range tc.mod.data {
						want = append(want, 1, 0)
					}
				}
				if after[k].id != before[k].id || !bytes.Equal(after[k].content, want) {
					t.Errorf("section %d (id %d) is %x, want %x", k, after[k].id, after[k].content, want)
				}
			}
		})
	}
}

// TestDataSegments_EveryStart checks that a module's data segments are in
// its memory however an instance starts: fresh, from a template, from a
// snapshot file mapped or read, from a snapshot read from a stream in
// either format, and after its compiled code was evicted.
func TestDataSegments_EveryStart(t *testing.T) {
	tm := driverModule()
	n := uint32(len(driverImports))
	// _initialize grows memory by a page: snapshots and templates are
	// larger than the initial memory, and are mapped over it.
	tm.funcs = append(tm.funcs, testFunc{body: growOne})
	tm.exports = append(tm.exports, testExport{name: "_initialize", index: n + 2})
	tm.data = []testData{{offset: 100, bytes: []byte("abc")}, {offset: wasmPage + 5, bytes: []byte("xyz")}}
	check := func(t *testing.T, inst *Instance) {
		t.Helper()
		mem := inst.module.Memory()
		for _, d := range tm.data {
			if got, _ := mem.Read(d.offset, uint32(len(d.bytes))); !bytes.Equal(got, d.bytes) {
				t.Errorf("memory at %d holds %q, want %q", d.offset, got, d.bytes)
			}
		}
		if got, _ := mem.Read(0, 100); !isZero(got) {
			t.Error("memory before the first data segment is not zero")
		}
	}
	cfg := InstanceConfig{Name: "test/data", MemoryLimit: 16 << 20}
	dir := t.TempDir()

	t.Run("fresh", func(t *testing.T) {
		r := newTemplateTestRuntime(t, 0)
		m := loadTest(t, r, tm)
		if m.init == nil {
			t.Fatal("the module's data segments are left to wazero, want them written by the runtime")
		}
		check(t, startTest(t, m, cfg.Name))
	})
	t.Run("fresh, module kept in a file", func(t *testing.T) {
		r := newTestRuntime(t, Config{CacheDir: filepath.Join(t.TempDir(), "cache")})
		m := loadTest(t, r, tm)
		if m.init == nil {
			t.Fatal("the module's data segments are left to wazero, want them written by the runtime")
		}
		if goruntime.GOOS == "linux" {
			inMapping(t, m.init)
		}
		// Each write lets go of the mapping's pages: the next reads them
		// again.
		for range 3 {
			check(t, startTest(t, m, cfg.Name))
		}
	})
	for _, kept := range []struct {
		name   string
		inFile bool
	}{{"evicted", false}, {"evicted, module kept in a file", true}} {
		t.Run(kept.name, func(t *testing.T) {
			rcfg := Config{CompiledBudgetBytes: 1}
			if kept.inFile {
				rcfg.CacheDir = filepath.Join(t.TempDir(), "cache")
			}
			r := newTestRuntime(t, rcfg)
			m := loadTest(t, r, tm)
			startTest(t, m, cfg.Name).Close(t.Context())
			if m.Resident() {
				t.Fatal("the module's compiled code is resident, want it evicted")
			}
			check(t, startTest(t, m, cfg.Name))
			if kept.inFile && goruntime.GOOS == "linux" {
				r.mu.Lock()
				init := m.init
				r.mu.Unlock()
				inMapping(t, init)
			}
		})
	}
	t.Run("template", func(t *testing.T) {
		r := newTemplateTestRuntime(t, 64<<20)
		m := loadTest(t, r, tm)
		check(t, startTest(t, m, cfg.Name))
		if r.TemplateBytes() == 0 {
			t.Skip("no template captured here")
		}
		inst := startTest(t, m, cfg.Name)
		if inst.memoryBuf == nil || inst.memoryBuf.runs == 0 {
			t.Fatal("the instance did not start from the template")
		}
		check(t, inst)
	})

	r := newTemplateTestRuntime(t, 0)
	m := loadTest(t, r, tm)
	first := startTest(t, m, cfg.Name)
	path := filepath.Join(dir, "snapshot")
	if _, err := first.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	var v1 bytes.Buffer
	if _, err := first.WriteSnapshot(&v1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		mapLimit int
		restore  func() (*Instance, error)
	}{
		{name: "file mapped", restore: func() (*Instance, error) { return m.RestoreFile(t.Context(), cfg, path) }},
		{name: "file read", mapLimit: -1, restore: func() (*Instance, error) { return m.RestoreFile(t.Context(), cfg, path) }},
		{name: "stream, version 3", restore: func() (*Instance, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			return m.Restore(t.Context(), cfg, bytes.NewReader(b))
		}},
		{name: "stream, version 1", restore: func() (*Instance, error) {
			return m.Restore(t.Context(), cfg, bytes.NewReader(v1.Bytes()))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.SetSnapshotMapLimit(tc.mapLimit)
			defer r.SetSnapshotMapLimit(0)
			inst, err := tc.restore()
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(context.Background())
			check(t, inst)
		})
	}
}

// TestDataSegments_MemoryInit checks memory.init and data.drop on the
// active data segments of a module whose segments the runtime writes: as
// the WebAssembly specification has it, an active segment is dropped once
// instantiated, so memory.init from it traps unless it copies nothing, and
// dropping it again does nothing.
func TestDataSegments_MemoryInit(t *testing.T) {
	tm := driverModule()
	n := uint32(len(driverImports))
	memInit := []byte{0x20, 0, 0x20, 1, 0x20, 2, 0xfc, 8, 0, 0} // memory.init 0 of (dst, src, len)
	tm.funcs = append(tm.funcs,
		testFunc{params: []byte{i32, i32, i32}, body: memInit},
		testFunc{body: []byte{0xfc, 9, 0}}, // data.drop 0
	)
	tm.exports = append(tm.exports, testExport{name: "init", index: n + 2}, testExport{name: "drop", index: n + 3})
	tm.data = []testData{{offset: 200, bytes: []byte{1, 2, 3}}}
	tm.dataCount = true
	r := newTemplateTestRuntime(t, 0)
	m := loadTest(t, r, tm)
	if m.init == nil {
		t.Fatal("the module's data segments are left to wazero, want them written by the runtime")
	}
	tests := []struct {
		name          string
		drop          bool
		dst, src, len uint64
		traps         bool
	}{
		{name: "nothing"},
		{name: "nothing, at the end of memory", dst: 2 * wasmPage},
		{name: "one byte", dst: 300, len: 1, traps: true},
		{name: "nothing from past the segment", src: 1, traps: true},
		{name: "nothing past the memory", dst: 2*wasmPage + 1, traps: true},
		{name: "dropped, nothing", drop: true},
		{name: "dropped, one byte", drop: true, dst: 300, len: 1, traps: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inst := startTest(t, m, "test/init")
			if tc.drop {
				if _, err := inst.module.ExportedFunction("drop").Call(t.Context()); err != nil {
					t.Fatalf("data.drop: %v", err)
				}
			}
			_, err := inst.module.ExportedFunction("init").Call(t.Context(), tc.dst, tc.src, tc.len)
			if traps := err != nil; traps != tc.traps {
				t.Fatalf("memory.init(%d, %d, %d) error %v, want a trap: %v", tc.dst, tc.src, tc.len, err, tc.traps)
			}
			if got, _ := inst.module.Memory().Read(200, 3); !bytes.Equal(got, []byte{1, 2, 3}) {
				t.Errorf("memory at 200 holds %v, want the data segment's 1 2 3", got)
			}
			if got, _ := inst.module.Memory().Read(300, 1); got[0] != 0 {
				t.Errorf("memory at 300 holds %d, want 0", got[0])
			}
		})
	}
}

// TestDataSegments_OutOfBounds checks that a module with a data segment
// past its initial memory still fails to instantiate, as wazero fails it,
// and leaves no memory mapped.
func TestDataSegments_OutOfBounds(t *testing.T) {
	tm := driverModule()
	tm.data = []testData{{offset: 10, bytes: []byte("ok")}, {offset: 2*wasmPage - 2, bytes: []byte("four")}}
	r := newTemplateTestRuntime(t, 0)
	m := loadTest(t, r, tm)
	if m.init != nil {
		t.Fatal("the module's data segments are written by the runtime, want them left to wazero")
	}
	for _, cfg := range []InstanceConfig{{Name: "test/oob", MemoryLimit: 16 << 20}} {
		_, err := m.Instantiate(t.Context(), cfg)
		if !errors.Is(err, ErrTrap) {
			t.Fatalf("Instantiate: %v, want ErrTrap", err)
		}
	}
	if live := r.mappings.Load(); live != 0 {
		t.Errorf("%d memory mappings left, want 0", live)
	}
}

// inMapping fails t unless every data segment of d with bytes lies in d's
// mapping of the module's kept file.
func inMapping(t *testing.T, d *dataInit) {
	t.Helper()
	if d == nil || len(d.mapped) == 0 {
		t.Fatal("the data segments are not in a mapping of the kept file")
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(d.mapped)))
	hi := lo + uintptr(len(d.mapped))
	for i, s := range d.segs {
		if len(s.data) == 0 {
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(s.data)))
		if p < lo || p+uintptr(len(s.data)) > hi {
			t.Errorf("segment %d is outside the mapping of the kept file (a copy on the heap)", i)
		}
	}
}

// TestPlaceData checks where a module's data segments' bytes are kept:
// in the kept bytes when those are in memory, in the kept file when it
// holds the bytes compiled, and in a copy of their own when it does not,
// never in what a damaged file holds.
func TestPlaceData(t *testing.T) {
	tm := driverModule()
	tm.data = []testData{{offset: 100, bytes: []byte("abc")}, {offset: wasmPage + 5, bytes: []byte("xyz")}}
	code := tm.encode()
	aliases := func(d *dataInit, b []byte) bool {
		for i, s := range d.segs {
			if len(s.data) > 0 && &s.data[0] != &b[d.at[i]] {
				return false
			}
		}
		return true
	}
	t.Run("in memory", func(t *testing.T) {
		_, d := stripData(code)
		if d == nil {
			t.Fatal("no data segments to write")
		}
		(&Module{}).placeData(d, code)
		if !aliases(d, code) {
			t.Error("the segments were copied, want them to share the kept bytes")
		}
	})
	t.Run("kept file", func(t *testing.T) {
		if goruntime.GOOS != "linux" {
			t.Skip("kept files are mapped on Linux only")
		}
		path := filepath.Join(t.TempDir(), "kept.wasm")
		if err := os.WriteFile(path, code, 0o600); err != nil {
			t.Fatal(err)
		}
		_, d := stripData(code)
		(&Module{path: path}).placeData(d, code)
		inMapping(t, d)
		mem := make([]byte, 2*wasmPage)
		d.write(mem)
		if !bytes.Equal(mem[100:103], []byte("abc")) || !bytes.Equal(mem[wasmPage+5:wasmPage+8], []byte("xyz")) {
			t.Error("the segments written from the kept file differ")
		}
	})
	t.Run("empty segments apart from the others", func(t *testing.T) {
		// Before the first page of the others' bytes, and after their
		// last: not merged with them, nothing to map.
		tm := driverModule()
		tm.memPages = 4
		tm.data = []testData{{offset: 1}, {offset: 100, bytes: []byte("abc")}, {offset: wasmPage + 5, bytes: []byte("xyz")},
			{offset: 3 * wasmPage}}
		r := newTestRuntime(t, Config{CacheDir: filepath.Join(t.TempDir(), "cache")})
		m := loadTest(t, r, tm)
		if goruntime.GOOS == "linux" {
			inMapping(t, m.init)
		}
		mem := startTest(t, m, "test/empty").module.Memory()
		if got, _ := mem.Read(100, 3); !bytes.Equal(got, []byte("abc")) {
			t.Errorf("memory at 100 holds %q, want abc", got)
		}
		for i, s := range m.init.segs {
			if len(s.data) == 0 && s.data != nil {
				t.Errorf("empty segment %d holds a slice of the kept bytes", i)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"damaged file", func(b []byte) []byte { b = bytes.Clone(b); b[bytes.Index(b, []byte("abc"))] = 'X'; return b }},
		{"truncated file", func(b []byte) []byte { return b[:len(b)-2] }},
		{"missing file", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kept.wasm")
			if tc.damage != nil {
				if err := os.WriteFile(path, tc.damage(code), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, d := stripData(code)
			(&Module{path: path}).placeData(d, code)
			if d.mapped != nil || aliases(d, code) {
				t.Error("the segments are in the file or still in the kept bytes, want a copy of their own")
			}
			mem := make([]byte, 2*wasmPage)
			d.write(mem)
			if !bytes.Equal(mem[100:103], []byte("abc")) || !bytes.Equal(mem[wasmPage+5:wasmPage+8], []byte("xyz")) {
				t.Error("the segments written differ from the module's")
			}
		})
	}
}
