package runtime

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryPools recycle the buffers of closed guests' linear memory by
// capacity. Waking guests of one module asks for the same capacities again
// and again; reusing their buffers spares the host's GC megabytes of
// allocation per wake, which is what its tail latency was made of. A
// sync.Pool drops what it holds at garbage collections, so a suspended
// guest's memory does not stay behind. Buffers are cleared before reuse:
// no guest sees another's memory.
var memoryPools sync.Map // capacity → *sync.Pool of *[]byte

// ReleaseBuffers drops the buffers kept for reuse, so that the next garbage
// collection frees them rather than the one after. Call it when no guest is
// expected to wake soon.
func ReleaseBuffers() {
	// Emptied, not dropped: the runtime keeps every sync.Pool it has seen
	// until its second collection after, contents included.
	memoryPools.Range(func(_, p any) bool {
		for p.(*sync.Pool).Get() != nil {
		}
		return true
	})
}

func takeBuffer(capacity uint64) []byte {
	if p, ok := memoryPools.Load(capacity); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]byte); ok {
			buf := (*b)[:capacity]
			clear(buf)
			return buf[:0]
		}
	}
	return make([]byte, 0, capacity)
}

func returnBuffer(buf []byte) {
	if cap(buf) == 0 {
		return
	}
	p, _ := memoryPools.LoadOrStore(uint64(cap(buf)), &sync.Pool{})
	p.(*sync.Pool).Put(&buf)
}

// limitedAllocator backs each guest's linear memory and refuses to grow it
// past a limit, so memory.grow fails in the guest instead of the host paying.
type limitedAllocator struct {
	limit uint64
	// reserve, when larger than what the module asks for, is the capacity
	// allocated up front: a restore knows the size memory grows to at once.
	reserve uint64
	// hit records that a grow was refused, to tell an out-of-memory trap
	// apart from others.
	hit *bool
}

func (a limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if max > a.limit {
		max = a.limit
	}
	if capacity < a.reserve {
		capacity = a.reserve
	}
	if capacity > max {
		capacity = max
	}
	return &limitedMemory{buf: takeBuffer(capacity), max: max, hit: a.hit}
}

type limitedMemory struct {
	buf []byte
	max uint64
	hit *bool
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		*m.hit = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically, as append would, but never past the limit.
	newCap := uint64(cap(m.buf)) * 2
	if newCap < size {
		newCap = size
	}
	if newCap > m.max {
		newCap = m.max
	}
	buf := takeBuffer(newCap)[:size]
	copy(buf, m.buf)
	returnBuffer(m.buf)
	m.buf = buf
	return m.buf
}

func (m *limitedMemory) Free() {
	returnBuffer(m.buf)
	m.buf = nil
}
