package runtime

import "github.com/tetratelabs/wazero/experimental"

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
	return &limitedMemory{buf: make([]byte, 0, capacity), max: max, hit: a.hit}
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
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	m.buf = buf
	return m.buf
}

func (m *limitedMemory) Free() { m.buf = nil }
