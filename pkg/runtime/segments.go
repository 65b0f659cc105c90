package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"
)

// maxSegmentGap is the largest run of zero bytes merged into a data
// segment to join two neighbours; memory is zero there anyway.
const maxSegmentGap = 4 << 10

// Section ids of the WebAssembly binary format.
const (
	sectionMemory    = 5
	sectionData      = 11
	sectionCode      = 10
	sectionDataCount = 12
)

var errUnmergeable = errors.New("data section cannot be merged")

// dataSegment is an active segment for memory 0 at a constant offset.
type dataSegment struct {
	offset uint32
	data   []byte
}

// mergeDataSegments returns wasm with neighbouring active data segments
// joined. Go's wasip1 output has tens of thousands of small segments, and
// instantiation pays per segment. Memory after instantiation is the same
// byte for byte. Modules whose data section has passive segments, other
// memories, non-constant offsets or overlaps are returned unchanged, as is
// anything that does not parse.
func mergeDataSegments(wasm []byte) []byte {
	sections, err := splitSections(wasm)
	if err != nil || mergeDataSection(sections) != nil {
		return wasm
	}
	return joinSections(wasm[:8], sections)
}

// section is one section of a module: its id and content.
type section struct {
	id      byte
	content []byte
}

var errMalformed = errors.New("module does not parse")

// splitSections returns the sections of wasm after its 8-byte preamble.
func splitSections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 {
		return nil, errMalformed
	}
	var sections []section
	for r := wasm[8:]; len(r) > 0; {
		id := r[0]
		size, n := readU32(r[1:])
		if n == 0 || uint64(len(r)) < 1+uint64(n)+uint64(size) {
			return nil, errMalformed
		}
		sections = append(sections, section{id, r[1+n : 1+n+int(size)]})
		r = r[1+n+int(size):]
	}
	return sections, nil
}

// joinSections encodes a module from its preamble and sections.
func joinSections(preamble []byte, sections []section) []byte {
	var b bytes.Buffer
	b.Write(preamble)
	for _, s := range sections {
		b.WriteByte(s.id)
		b.Write(binary.AppendUvarint(nil, uint64(len(s.content))))
		b.Write(s.content)
	}
	return b.Bytes()
}

// mergeDataSection merges the segments of the data section in place, and
// updates the data count section to match. It changes nothing when it
// fails.
func mergeDataSection(sections []section) error {
	data := -1
	for i, s := range sections {
		if s.id == sectionData {
			data = i
		}
	}
	if data < 0 {
		return errUnmergeable
	}
	segs, err := parseDataSection(sections[data].content)
	if err != nil {
		return err
	}
	merged := mergeSegments(segs)
	sections[data].content = encodeDataSection(merged)
	for i, s := range sections {
		if s.id == sectionDataCount {
			sections[i].content = binary.AppendUvarint(nil, uint64(len(merged)))
		}
	}
	return nil
}

func parseDataSection(r []byte) ([]dataSegment, error) {
	count, n := readU32(r)
	if n == 0 {
		return nil, errUnmergeable
	}
	r = r[n:]
	segs := make([]dataSegment, 0, count)
	for range count {
		// Only flag 0: active, memory 0, offset expression "i32.const N end".
		if len(r) < 2 || r[0] != 0 || r[1] != 0x41 {
			return nil, errUnmergeable
		}
		off, n := readS32(r[2:])
		if n == 0 || len(r) < 2+n+1 || r[2+n] != 0x0b || off < 0 {
			return nil, errUnmergeable
		}
		r = r[2+n+1:]
		size, n := readU32(r)
		if n == 0 || uint64(len(r)) < uint64(n)+uint64(size) {
			return nil, errUnmergeable
		}
		segs = append(segs, dataSegment{offset: uint32(off), data: r[n : n+int(size)]})
		r = r[n+int(size):]
	}
	if len(r) != 0 {
		return nil, errUnmergeable
	}
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].offset < segs[j].offset })
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i-1].offset)+uint64(len(segs[i-1].data)) > uint64(segs[i].offset) {
			return nil, errUnmergeable // overlapping: order of application matters
		}
	}
	return segs, nil
}

// mergeSegments joins sorted, non-overlapping segments whose gap is small.
func mergeSegments(segs []dataSegment) []dataSegment {
	var out []dataSegment
	for i := 0; i < len(segs); {
		// Find the run segs[i:j] that joins into one segment, then copy it once.
		j, end := i+1, uint64(segs[i].offset)+uint64(len(segs[i].data))
		for j < len(segs) && uint64(segs[j].offset)-end <= maxSegmentGap {
			end = uint64(segs[j].offset) + uint64(len(segs[j].data))
			j++
		}
		if j == i+1 {
			out = append(out, segs[i])
			i = j
			continue
		}
		data := make([]byte, end-uint64(segs[i].offset))
		for _, s := range segs[i:j] {
			copy(data[s.offset-segs[i].offset:], s.data)
		}
		out = append(out, dataSegment{offset: segs[i].offset, data: data})
		i = j
	}
	return out
}

func encodeDataSection(segs []dataSegment) []byte {
	b := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		b = append(b, 0, 0x41)
		b = appendS32(b, int32(s.offset))
		b = append(b, 0x0b)
		b = binary.AppendUvarint(b, uint64(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}

// appendS32 appends v as a signed LEB128.
func appendS32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// readU32 reads an unsigned LEB128 of at most 5 bytes; n is 0 on error.
func readU32(b []byte) (v uint32, n int) {
	x, n := binary.Uvarint(b)
	if n <= 0 || n > 5 || x > 1<<32-1 {
		return 0, 0
	}
	return uint32(x), n
}

// readS32 reads a signed LEB128 of at most 5 bytes; n is 0 on error.
func readS32(b []byte) (v int32, n int) {
	var result int64
	var shift uint
	for i := 0; i < 5 && i < len(b); i++ {
		c := b[i]
		result |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				result |= -1 << shift
			}
			if result < -1<<31 || result > 1<<31-1 {
				return 0, 0
			}
			return int32(result), i + 1
		}
	}
	return 0, 0
}
