package runtime

import (
	"fmt"
	"sync/atomic"

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
	// out, when set, receives the memory allocated.
	out **limitedMemory
	// scratchUntil, when larger than the initial memory, is the size at
	// which a template or snapshot is mapped over the memory: until it
	// grows to that size the memory is on scratch, which written says
	// the data segments write whole (template_scratch.go). template,
	// when set, is the template the instance starts from; else a
	// snapshot is restored.
	scratchUntil uint64
	written      [][2]uint64
	template     *memoryTemplate
	scratch      *scratchMemory
	// mappings, when set, counts the mappings allocated and not yet freed.
	mappings *atomic.Int64
	// mappedRuns, when set, counts the runs of files mapped into memories
	// not yet freed (templates, snapshots).
	mappedRuns *atomic.Int64
	// init, when set, is the data segments the memory is written, which
	// wazero does not write (datainit.go).
	init *dataInit
	// lazy leaves the pages of the memory unbacked as it grows, until the
	// owner clears the memory's lazy (a spare's, spare.go).
	lazy bool
}

func (a limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if max > a.limit {
		max = a.limit
	}
	if mapped := mapMemory(max); mapped != nil {
		m := &limitedMemory{buf: mapped[:0], max: max, hit: a.hit, mapped: true, mappings: a.mappings, mappedRuns: a.mappedRuns, init: a.init, lazy: a.lazy}
		if a.mappings != nil {
			a.mappings.Add(1)
		}
		// A memory with no initial pages has nothing to write: its
		// first growth must leave scratch, not start on it.
		if capacity > 0 && a.scratchUntil > capacity && a.scratch != nil {
			// Without data segments to write, what the buffer holds is
			// never read (reallocateScratch): it is not cleared.
			if m.scratch = a.scratch.get(capacity, a.written, a.init == nil); m.scratch != nil {
				m.scratchUntil, m.template, m.pool = a.scratchUntil, a.template, a.scratch
			}
		}
		if a.out != nil {
			*a.out = m
		}
		return m
	}
	if capacity < a.reserve {
		capacity = a.reserve
	}
	if capacity > max {
		capacity = max
	}
	return &limitedMemory{buf: make([]byte, 0, capacity), max: max, hit: a.hit, init: a.init}
}

type limitedMemory struct {
	buf []byte
	max uint64
	hit *bool
	// mapped says that buf is a mapping of max bytes, released by Free;
	// mappings, when set, counts it until then.
	mapped   bool
	mappings *atomic.Int64
	// runs is how many runs of files are mapped into buf, counted in
	// mappedRuns until Free.
	runs       int64
	mappedRuns *atomic.Int64
	// remaps counts the runs of file-mapped pages compaction replaced
	// with anonymous memory, also counted in runs (compact_remap_linux.go).
	remaps int
	// lazy, while set, leaves the pages of a mapping that grows unbacked,
	// for a template to be mapped over them.
	lazy bool
	// init, while set, is the data segments still to be written to the
	// memory: at its first allocation, or when it leaves scratch memory
	// other than for a template or snapshot mapped over it whole.
	init *dataInit
	// scratch, while set, is the memory wazero is given until the
	// memory grows to scratchUntil, lazily: template, when set, is then
	// mapped (else a snapshot is mapped after), and scratch goes back to
	// pool. templateErr says why the template was not mapped.
	scratch      []byte
	scratchUntil uint64
	template     *memoryTemplate
	pool         *scratchMemory
	templateErr  error
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if m.scratch != nil {
		return m.reallocateScratch(size)
	}
	if size > m.max {
		*m.hit = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		if m.mapped && !m.lazy && size > uint64(len(m.buf)) {
			populate(m.buf[len(m.buf):size])
		}
		m.buf = m.buf[:size]
		m.writeInit()
		return m.buf
	}
	// A Go slice grows geometrically, as append would, never past the limit.
	newCap := max(uint64(cap(m.buf))*2, size)
	newCap = min(newCap, m.max)
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	m.buf = buf
	m.writeInit()
	return m.buf
}

// writeInit writes the data segments still to be written to the memory,
// once: wazero's first allocation is of the module's initial memory, which
// holds them all (stripData).
func (m *limitedMemory) writeInit() {
	if d := m.init; d != nil {
		m.init = nil
		d.write(m.buf)
	}
}

// reallocateScratch serves the memory of an instance started from a
// template or restored from a snapshot file: scratch memory at first,
// then, once applyTemplate or restoreV2 grows it lazily to scratchUntil,
// its own mapping, with the template mapped over it, or unbacked for the
// snapshot to be mapped over. Any other growth (the module's start
// function's, a snapshot read rather than mapped) moves the memory off
// the scratch buffer first, copying it, since the buffer goes back to its
// pool for other instances; it fails the template. When the data segments
// are the runtime's to write (init), the scratch buffer is not cleared
// when handed out, and wazero writes nothing to it: with no start
// function (stripData), nothing reads it either, and the memory that
// leaves it is written the data segments instead of a copy of it.
func (m *limitedMemory) reallocateScratch(size uint64) []byte {
	if len(m.buf) == 0 && size <= uint64(len(m.scratch)) {
		m.buf = m.buf[:size]
		return m.scratch[:size]
	}
	if size > m.max {
		// wazero keeps the memory it had, so the scratch buffer stays
		// this instance's until it is freed.
		*m.hit = true
		if m.templateErr == nil {
			m.templateErr = fmt.Errorf("memory of %d bytes is over its maximum of %d", size, m.max)
		}
		return nil
	}
	if !m.lazy || size != m.scratchUntil {
		if m.template != nil && m.templateErr == nil {
			m.templateErr = fmt.Errorf("memory grown to %d bytes before the template's %d was mapped", size, m.scratchUntil)
		}
		old := len(m.buf)
		populate(m.buf[:size])
		m.buf = m.buf[:size]
		if m.init != nil {
			m.writeInit()
		} else {
			copy(m.buf, m.scratch[:old])
		}
		m.releaseScratch()
		return m.buf
	}
	// wazero keeps the scratch buffer as the memory when the grow fails:
	// it goes back to its pool only once the template is mapped. A
	// snapshot's restore maps it over the memory once grown (restoreV2),
	// or reads it when mapping fails (every page then written or zeroed).
	// Either way the guest sees the memory's own mapping, its pages each
	// mapped from the template or snapshot, or given back or never backed
	// (zero), not a byte of the scratch buffer: the data segments are not
	// written (the template or snapshot holds what they wrote), and the
	// buffer needed no clearing.
	m.init = nil
	old := len(m.buf)
	m.buf = m.buf[:size]
	if t := m.template; t != nil {
		if err := m.mapTemplate(t); err != nil {
			m.buf = m.buf[:old]
			m.templateErr = err
			return nil
		}
	}
	m.releaseScratch()
	return m.buf
}

// mapTemplate maps t over the whole memory, counting its runs.
func (m *limitedMemory) mapTemplate(t *memoryTemplate) error {
	if err := t.pages.mapOver(m.buf); err != nil {
		return err
	}
	m.countRuns(t.pages.runCount())
	return nil
}

// countRuns counts n runs of files mapped over the memory, which it holds
// until it is freed. A memory is mapped over once.
func (m *limitedMemory) countRuns(n int) {
	if m.mappedRuns != nil && m.runs == 0 {
		m.runs = int64(n)
		m.mappedRuns.Add(m.runs)
	}
}

// releaseScratch gives the scratch memory back to its pool.
func (m *limitedMemory) releaseScratch() {
	if m.scratch != nil {
		m.pool.put(m.scratch)
		m.scratch, m.template, m.pool, m.scratchUntil = nil, nil, nil, 0
	}
}

// Free gives the memory back. It may be called more than once (wazero
// frees the memory of a module it closes, Instantiate that of a module
// wazero failed to instantiate): only the first call unmaps.
func (m *limitedMemory) Free() {
	m.releaseScratch()
	if m.mapped {
		unmapMemory(m.buf[:cap(m.buf)])
		m.mapped = false
		if m.mappings != nil {
			m.mappings.Add(-1)
		}
		if m.mappedRuns != nil {
			m.mappedRuns.Add(-m.runs)
			m.runs = 0
		}
	}
	m.buf = nil
}
