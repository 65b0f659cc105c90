package runtime

import (
	"bytes"
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

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
