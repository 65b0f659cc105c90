package runtime

import (
	"bytes"
	"crypto/sha256"
)

// memoryImage is what a module's active data segments write to the memory
// of a fresh instance, kept as a SHA-256 per snapshot chunk: a snapshot
// skips the chunks that still hold it, since instantiating writes them
// again. For a Go guest that is most of its non-zero memory (its read-only
// data), about a third of a small guest's memory.
type memoryImage struct {
	// chunks holds the hash of each chunk the data segments write to,
	// by chunk index; the zero value for chunks they leave all zero.
	chunks [][sha256.Size]byte
	// digest is a hash of chunks: a snapshot records it, so that a chunk
	// marked as the image is never restored against another image.
	digest [sha256.Size]byte
	// written holds the byte ranges the data segments write, in order
	// and apart, [off, end) each; nil when the segments cannot be placed.
	written [][2]uint64
}

// newMemoryImage computes the image of a module's data section. When the
// section has segments it cannot place (passive, or at offsets not
// constant), the image is empty and snapshots store every non-zero chunk.
func newMemoryImage(sections []section) *memoryImage {
	img := &memoryImage{}
	var segs []dataSegment
	for _, s := range sections {
		if s.id == sectionData {
			parsed, err := parseDataSection(s.content)
			if err == nil {
				segs = parsed
			}
		}
	}
	var end uint64
	for _, s := range segs {
		end = max(end, uint64(s.offset)+uint64(len(s.data)))
		img.written = appendRange(img.written, uint64(s.offset), uint64(s.offset)+uint64(len(s.data)))
	}
	if end > 0 && end <= maxMemory {
		mem := make([]byte, (end+snapshotChunk-1)/snapshotChunk*snapshotChunk)
		for _, s := range segs {
			copy(mem[s.offset:], s.data)
		}
		zero := make([]byte, snapshotChunk)
		img.chunks = make([][sha256.Size]byte, len(mem)/snapshotChunk)
		for c := range img.chunks {
			if chunk := mem[c*snapshotChunk : (c+1)*snapshotChunk]; !bytes.Equal(chunk, zero) {
				img.chunks[c] = sha256.Sum256(chunk)
			}
		}
	}
	h := sha256.New()
	for _, c := range img.chunks {
		h.Write(c[:])
	}
	copy(img.digest[:], h.Sum(nil))
	return img
}

// holds reports whether chunk c of memory is the image's, which is never
// all zero.
func (img *memoryImage) holds(c int, chunk []byte) bool {
	if c >= len(img.chunks) || img.chunks[c] == ([sha256.Size]byte{}) {
		return false
	}
	return sha256.Sum256(chunk) == img.chunks[c]
}

// appendRange appends [off, end) to ranges, which are in order and apart
// and end at or before off, joining it to the last when they touch.
// An empty range is left out.
func appendRange(ranges [][2]uint64, off, end uint64) [][2]uint64 {
	if off >= end {
		return ranges
	}
	if n := len(ranges); n > 0 && ranges[n-1][1] == off {
		ranges[n-1][1] = end
		return ranges
	}
	return append(ranges, [2]uint64{off, end})
}
