package runtime

import (
	"encoding/binary"
	"fmt"
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
type dataInit struct {
	segs []dataSegment
}

// stripData returns the bytes to compile for code, the module's kept bytes,
// and the data segments the runtime must then write to each new memory: code
// with each active data segment made an empty passive one, or code unchanged
// and nil when the runtime cannot write them. It cannot when the module has
// a start function (which runs before a template or snapshot is mapped, on
// the memory the segments wrote), a data segment it cannot place (passive,
// at an offset not constant, overlapping another), or one past the initial
// memory, for wazero to refuse when instantiating as it always has. The
// segments' bytes are copied, so that they do not hold code.
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
	size := 0
	for _, s := range segs {
		if uint64(s.offset)+uint64(len(s.data)) > minMemory {
			return code, nil
		}
		size += len(s.data)
	}
	kept := make([]byte, 0, size)
	init := &dataInit{segs: make([]dataSegment, len(segs))}
	for i, s := range segs {
		kept = append(kept, s.data...)
		init.segs[i] = dataSegment{offset: s.offset, data: kept[len(kept)-len(s.data):]}
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
}
