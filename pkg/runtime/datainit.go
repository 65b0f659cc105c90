package runtime

import (
	"encoding/binary"
	"fmt"
	"runtime"

	"k8s.io/klog/v2"
)

// A module's active data segments are not compiled into it when the
// runtime can write them itself (see stripData): each becomes an empty
// passive segment, and the memory allocator writes the segments' bytes to
// a new memory (memory.go) unless a template or snapshot file is mapped
// over the whole memory, which then holds nothing of them. Instantiating
// otherwise copies every segment to memory that is replaced at once: 20 MB
// for a guest built on client-go, most of the CPU of a restore besides
// wazero's tables (docs/benchmarks.md).
//
// An empty passive segment behaves as the WebAssembly specification says
// an active one does once instantiated, dropped: memory.init from it traps
// unless it copies nothing, data.drop does nothing. wazero 1.12 keeps an
// active segment's bytes for memory.init instead (docs/RATIONALE.md).

// dataInit holds the active data segments of a module compiled without
// them, for the runtime to write to a new instance's memory: in order,
// apart, and within the module's initial memory.
//
// The segments' bytes are not a copy of their own where the module's kept
// bytes already hold them (placeData): in memory, the kept bytes
// themselves; in a file, a read-only mapping of it, which write lets go of
// after each use, so that the bytes are page cache the kernel may reclaim
// rather than heap (1.7 MB for a small Go guest, 20 MB for one built on
// client-go).
type dataInit struct {
	segs []dataSegment
	// at is, for each segment, where its bytes start in the kept bytes
	// the module compiled from.
	at []int
	// mapped, when set, is the part of a mapping of the kept file that
	// holds the segments' bytes, whose pages write gives back after use.
	mapped []byte
}

// stripData returns the bytes to compile for code, the module's kept bytes,
// and the data segments the runtime must then write to each new memory: code
// with each active data segment made an empty passive one, or code unchanged
// and nil when the runtime cannot write them. It cannot when the module has
// a start function (which runs before a template or snapshot is mapped, on
// the memory the segments wrote), a data segment it cannot place (passive,
// at an offset not constant, overlapping another), or one past the initial
// memory, for wazero to refuse when instantiating as it always has. The
// segments' bytes are those of code, until placeData places them.
func stripData(code []byte) ([]byte, *dataInit) {
	sections, err := splitSections(code)
	if err != nil {
		return code, nil
	}
	data, minMemory := -1, uint64(0)
	for i, s := range sections {
		switch s.id {
		case sectionStart:
			return code, nil
		case sectionData:
			data = i
		case sectionMemory:
			m, ok := parseMemoryMin(s.content)
			if !ok {
				return code, nil
			}
			minMemory = m
		}
	}
	if data < 0 {
		return code, nil
	}
	segs, err := parseDataSection(sections[data].content)
	if err != nil || len(segs) == 0 {
		return code, nil
	}
	init := &dataInit{segs: segs, at: make([]int, len(segs))}
	for i, s := range segs {
		if uint64(s.offset)+uint64(len(s.data)) > minMemory {
			return code, nil
		}
		if len(s.data) == 0 {
			// Nothing to write, nowhere in code: an empty slice of
			// code would keep all of it.
			init.segs[i].data = nil
			continue
		}
		// The section's bytes are code's: a segment's capacity runs to
		// code's end.
		at := cap(code) - cap(s.data)
		if at < 0 || at+len(s.data) > len(code) || &code[at] != &s.data[0] {
			return code, nil
		}
		init.at[i] = at
	}
	// Same count, same indices: flag 1 (passive), no bytes.
	empty := binary.AppendUvarint(nil, uint64(len(segs)))
	for range segs {
		empty = append(empty, 1, 0)
	}
	out := make([]section, len(sections))
	copy(out, sections)
	out[data].content = empty
	return joinSections(code[:8], out), init
}

// parseMemoryMin returns the initial size in bytes of the one memory a
// memory section declares; ok is false for anything else (no memory, more
// than one, shared or 64-bit memories, a section that does not parse).
func parseMemoryMin(r []byte) (uint64, bool) {
	count, n := readU32(r)
	if n == 0 || count != 1 || len(r) < n+1 {
		return 0, false
	}
	if flags := r[n]; flags != 0 && flags != 1 {
		return 0, false
	}
	pages, m := readU32(r[n+1:])
	if m == 0 {
		return 0, false
	}
	return uint64(pages) * wasmPage, true
}

// write writes the segments to mem, a new memory of the module: zero, and
// at least its initial size. A memory too small is a bug, not the guest's:
// it panics rather than leave the memory without its data.
func (d *dataInit) write(mem []byte) {
	for _, s := range d.segs {
		end := uint64(s.offset) + uint64(len(s.data))
		if end > uint64(len(mem)) {
			panic(fmt.Sprintf("data segment [%d, %d) is outside the memory of %d bytes", s.offset, end, len(mem)))
		}
		copy(mem[s.offset:end], s.data)
	}
	// The kept file's pages just read stay page cache, out of the
	// process's memory until the next write reads them again.
	forgetPages(d.mapped)
	// d's cleanup unmaps what its segments point into.
	runtime.KeepAlive(d)
}

// placeData places the bytes of d, the data segments stripData found in
// code, the module's kept bytes just compiled, where they cost the least:
// in code itself when the module keeps it in memory; else in a read-only
// mapping of the kept file, once its bytes are seen to be code's; else,
// should mapping fail, in a copy of the segments alone, so that the rest
// of code can be collected.
func (m *Module) placeData(d *dataInit, code []byte) {
	if d == nil || m.path == "" {
		return
	}
	if err := d.mapFrom(m.path, code); err != nil {
		klog.V(2).InfoS("Keeping a module's data segments in memory", "digest", m.Digest, "reason", err.Error())
		d.compact()
	}
}

// compact copies the segments' bytes into one buffer of their own.
func (d *dataInit) compact() {
	size := 0
	for _, s := range d.segs {
		size += len(s.data)
	}
	kept := make([]byte, 0, size)
	for i, s := range d.segs {
		if len(s.data) == 0 {
			continue
		}
		kept = append(kept, s.data...)
		d.segs[i].data = kept[len(kept)-len(s.data):]
	}
}

// span returns the part of the kept bytes that holds the segments' bytes,
// [lo, hi).
func (d *dataInit) span() (lo, hi int) {
	lo = -1
	for i, s := range d.segs {
		if len(s.data) == 0 {
			continue
		}
		if lo < 0 || d.at[i] < lo {
			lo = d.at[i]
		}
		hi = max(hi, d.at[i]+len(s.data))
	}
	return max(lo, 0), hi
}
