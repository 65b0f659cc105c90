package runtime

import (
	"sync"
	"time"
)

// Instantiating a module writes its data segments to the new memory,
// which a template, or a snapshot restored from its file, then replaces
// whole. So such an instance is first given scratch memory for wazero to
// write them to: kept from one instance to the next, its pages are already
// backed, and the instance's own memory is never backed only to be given
// back. A module whose data segments the runtime writes (datainit.go) has
// nothing written to the buffer: it only stands for the initial memory
// until the mapping, and is handed out as it is.

// maxScratch bounds the scratch buffers: a module whose initial memory is
// larger has its data segments written to its own memory, which the
// template or snapshot is then mapped over. The one buffer kept idle is
// backed memory the server holds until it is unused for scratchIdleDrop;
// 32 MiB holds the initial memory of a guest built on client-go (22 MB).
const maxScratch = 32 << 20

// scratchIdleDrop is how long the idle scratch buffer is kept unused
// before it goes back to the OS: wakes in a burst reuse it, and a server
// whose guests are all suspended does not hold up to maxScratch of backed
// memory for them.
const scratchIdleDrop = 30 * time.Second

// scratchMemory keeps one idle scratch buffer for instances started from
// templates or snapshot files, for at most dropAfter (scratchIdleDrop
// when zero) after it was last given back.
type scratchMemory struct {
	dropAfter time.Duration

	mu   sync.Mutex
	idle []byte // a mapping, or nil
	// putAt is when idle was last given back, and drop the timer that
	// then gives it to the OS.
	putAt  time.Time
	drop   *time.Timer
	closed bool
}

// get returns a scratch buffer of at least size bytes, or nil when none
// can be mapped or size is over maxScratch. With zero, it is backed, and its first
// size bytes are zero but for the ranges in written (in order and apart,
// as memoryImage.written), which the caller must write whole before
// anything reads the buffer: the module's data segments, which
// instantiating writes before any of the guest's code runs. Without, the
// buffer holds whatever it held last, for a caller that never reads it.
func (s *scratchMemory) get(size uint64, written [][2]uint64, zero bool) []byte {
	if size > maxScratch {
		return nil
	}
	s.mu.Lock()
	if b := s.idle; b != nil && uint64(len(b)) >= size {
		s.idle = nil
		s.mu.Unlock()
		// It holds what another module's data segments and start
		// function wrote; a fresh memory reads as zero.
		if zero {
			clearExcept(b[:size], written)
		}
		return b
	}
	s.mu.Unlock()
	b := mapMemory(size)
	if b != nil && zero {
		// wazero writes the data segments at once: backing the pages
		// first saves a fault each. Without zero nothing writes them.
		populate(b)
	}
	return b
}

// put keeps b for the next instance, or gives it back to the OS: only the
// largest buffer is kept.
func (s *scratchMemory) put(b []byte) {
	s.mu.Lock()
	if !s.closed && (s.idle == nil || len(b) > len(s.idle)) {
		b, s.idle = s.idle, b
		s.putAt = time.Now()
		if s.drop == nil {
			s.drop = time.AfterFunc(s.idleFor(), s.dropIdle)
		} else {
			s.drop.Reset(s.idleFor())
		}
	}
	s.mu.Unlock()
	if b != nil {
		unmapMemory(b)
	}
}

func (s *scratchMemory) idleFor() time.Duration {
	if s.dropAfter > 0 {
		return s.dropAfter
	}
	return scratchIdleDrop
}

// dropIdle gives the idle buffer back to the OS once it has been unused
// for idleFor; a later put has re-armed the timer otherwise.
func (s *scratchMemory) dropIdle() {
	s.mu.Lock()
	b := s.idle
	if b == nil || time.Since(s.putAt) < s.idleFor() {
		s.mu.Unlock()
		return
	}
	s.idle = nil
	s.mu.Unlock()
	unmapMemory(b)
}

// close gives the idle buffer back to the OS; buffers given back later
// are unmapped at once.
func (s *scratchMemory) close() {
	s.mu.Lock()
	b := s.idle
	s.idle, s.closed = nil, true
	if s.drop != nil {
		s.drop.Stop()
	}
	s.mu.Unlock()
	if b != nil {
		unmapMemory(b)
	}
}

// clearExcept zeroes b but for the ranges in written, in order and apart.
func clearExcept(b []byte, written [][2]uint64) {
	var done uint64 // b[:done] is done
	size := uint64(len(b))
	for _, r := range written {
		if r[0] >= size {
			break
		}
		if r[0] > done {
			clear(b[done:r[0]])
		}
		done = max(done, min(r[1], size))
	}
	clear(b[done:])
}
