package runtime

import (
	"github.com/tetratelabs/wazero/experimental"
)

// Guest linear memory lives outside the Go heap where the platform allows:
// each instance maps address space for its whole limit (no memory is
// committed until the guest touches a page), grows in place, and gives its
// pages back to the OS when it is closed. On the Go heap it would count
// toward the garbage collector's target, which lets the heap grow to twice
// what is live: with many guests resident the process reached twice their
// memory, and a suspended guest's memory stayed until a collection. Fresh
// pages are zero, so no guest sees another's memory. Where mapping fails
// (strict overcommit, a platform without mmap) the memory is an ordinary Go
// slice that grows geometrically.

// limitedAllocator backs each guest's linear memory and refuses to grow it
// past a limit, so memory.grow fails in the guest instead of the host paying.
type limitedAllocator struct {
	limit uint64
	// reserve, when larger than what the module asks for, is the capacity
	// a Go slice is allocated with up front: a restore knows the size
	// memory grows to at once.
	reserve uint64
	// hit records that a grow was refused, to tell an out-of-memory trap
	// apart from others.
	hit *bool
}

func (a limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if max > a.limit {
		max = a.limit
	}
	if mapped := mapMemory(max); mapped != nil {
		return &limitedMemory{buf: mapped[:0], max: max, hit: a.hit, mapped: true}
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
	// mapped says that buf is a mapping of max bytes, released by Free.
	mapped bool
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		*m.hit = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		if m.mapped && size > uint64(len(m.buf)) {
			populate(m.buf[len(m.buf):size])
		}
		m.buf = m.buf[:size]
		return m.buf
	}
	// A Go slice grows geometrically, as append would, never past the limit.
	newCap := max(uint64(cap(m.buf))*2, size)
	newCap = min(newCap, m.max)
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	m.buf = buf
	return m.buf
}

func (m *limitedMemory) Free() {
	if m.mapped {
		unmapMemory(m.buf[:cap(m.buf)])
	}
	m.buf = nil
}
