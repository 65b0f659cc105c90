package runtime

import (
	"bytes"
	"sync"
	"testing"
)

// TestLimitedMemory_ReuseIsCleared: a buffer that served one guest serves
// the next one zeroed, whether it comes back through Free or through growing.
func TestLimitedMemory_ReuseIsCleared(t *testing.T) {
	const capacity = 3 << 16
	hit := false
	alloc := limitedAllocator{limit: 1 << 30, hit: &hit}
	dirty := func(m *limitedMemory, size uint64) {
		buf := m.Reallocate(size)
		for i := range buf {
			buf[i] = 0xAB
		}
	}
	for round := range 20 { // sync.Pool may drop buffers; enough rounds reuse some
		first := alloc.Allocate(capacity, 1<<30).(*limitedMemory)
		dirty(first, capacity)
		grown := first.Reallocate(2 * capacity) // the first buffer goes back to the pool
		if !bytes.Equal(grown[:capacity], bytes.Repeat([]byte{0xAB}, capacity)) || !isZero(grown[capacity:]) {
			t.Fatalf("round %d: growing lost or invented contents", round)
		}
		first.Free()
		second := alloc.Allocate(capacity, 1<<30).(*limitedMemory)
		if buf := second.Reallocate(capacity); !isZero(buf) {
			t.Fatalf("round %d: a new guest's memory holds another guest's bytes", round)
		}
		second.Free()
	}
	if hit {
		t.Error("the limit was hit")
	}
}

// TestReleaseBuffers: released buffers are no longer handed out.
func TestReleaseBuffers(t *testing.T) {
	const capacity = 5<<16 + 1 // not a whole number of pages: no guest of another test uses it
	hit := false
	alloc := limitedAllocator{limit: 1 << 30, hit: &hit}
	for range 10 { // sync.Pool may drop some, under the race detector
		alloc.Allocate(capacity, 1<<30).Free()
	}
	ReleaseBuffers()
	p, ok := memoryPools.Load(uint64(capacity))
	if !ok {
		t.Fatal("no pool for the freed buffers")
	}
	if b := p.(*sync.Pool).Get(); b != nil {
		t.Error("a buffer is still handed out after ReleaseBuffers")
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
