package runtime

import "sync"

// Instantiating a module writes its data segments to the new memory,
// which a template then replaces whole. So an instance started from a
// template is first given scratch memory for wazero to write them to: kept
// from one instance to the next, its pages are already backed, and the
// instance's own memory is never backed only to be given back.

// maxScratch bounds the scratch buffers: a module whose initial memory is
// larger has its data segments written to its own memory, which the
// template is then mapped over. The one buffer kept idle is backed memory
// the server holds for as long as it runs.
const maxScratch = 16 << 20

// scratchMemory keeps one idle scratch buffer for instances started from
// templates.
type scratchMemory struct {
	mu   sync.Mutex
	idle []byte // a mapping, or nil
}

// get returns a scratch buffer of at least size bytes, backed, or nil
// when none can be mapped or size is over maxScratch.
func (s *scratchMemory) get(size uint64) []byte {
	if size > maxScratch {
		return nil
	}
	s.mu.Lock()
	if b := s.idle; b != nil && uint64(len(b)) >= size {
		s.idle = nil
		s.mu.Unlock()
		// It holds what another module's data segments and start
		// function wrote; a fresh memory reads as zero.
		clear(b[:size])
		return b
	}
	s.mu.Unlock()
	b := mapMemory(size)
	if b != nil {
		populate(b)
	}
	return b
}

// put keeps b for the next instance, or gives it back to the OS: only the
// largest buffer is kept.
func (s *scratchMemory) put(b []byte) {
	s.mu.Lock()
	if s.idle == nil || len(b) > len(s.idle) {
		b, s.idle = s.idle, b
	}
	s.mu.Unlock()
	if b != nil {
		unmapMemory(b)
	}
}

// close gives the idle buffer back to the OS.
func (s *scratchMemory) close() {
	s.mu.Lock()
	b := s.idle
	s.idle = nil
	s.mu.Unlock()
	if b != nil {
		unmapMemory(b)
	}
}
