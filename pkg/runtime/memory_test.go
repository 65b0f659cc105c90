package runtime

import (
	"bytes"
	"context"
	"testing"
	"unsafe"
)

// TestLimitedMemory checks what a guest depends on from its memory, mapped
// or a Go slice: it starts zeroed, keeps its contents when it grows, and
// cannot grow past the limit.
func TestLimitedMemory(t *testing.T) {
	const page = 1 << 16
	tests := []struct {
		name string
		mem  func(hit *bool) *limitedMemory
		// inPlace: growing never moves the memory.
		inPlace bool
	}{
		{"mapped", func(hit *bool) *limitedMemory {
			return limitedAllocator{limit: 8 * page, hit: hit}.Allocate(page, 1<<32).(*limitedMemory)
		}, mapMemory(page) != nil},
		{"go slice", func(hit *bool) *limitedMemory {
			return &limitedMemory{buf: make([]byte, 0, page), max: 8 * page, hit: hit}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hit := false
			m := tt.mem(&hit)
			defer m.Free()
			if m.mapped != tt.inPlace {
				t.Fatalf("mapped = %v, want %v", m.mapped, tt.inPlace)
			}
			buf := m.Reallocate(page)
			if len(buf) != page || !isZero(buf) {
				t.Fatalf("first page: %d bytes, zero %v", len(buf), isZero(buf))
			}
			for i := range buf {
				buf[i] = 0xAB
			}
			grown := m.Reallocate(5 * page)
			if len(grown) != 5*page || !bytes.Equal(grown[:page], bytes.Repeat([]byte{0xAB}, page)) || !isZero(grown[page:]) {
				t.Fatalf("growing lost or invented contents")
			}
			if moved := unsafe.SliceData(grown) != unsafe.SliceData(buf); moved == tt.inPlace {
				t.Errorf("memory moved = %v, want %v", moved, !tt.inPlace)
			}
			if m.Reallocate(8*page) == nil || hit {
				t.Errorf("growing to the limit refused")
			}
			if m.Reallocate(9*page) != nil || !hit {
				t.Errorf("growing past the limit: not refused, or not recorded")
			}
		})
	}
}

// TestLimitedAllocator_FreshMemoryIsZero: a guest's memory never holds what
// a closed guest wrote.
func TestLimitedAllocator_FreshMemoryIsZero(t *testing.T) {
	hit := false
	alloc := limitedAllocator{limit: 1 << 20, hit: &hit}
	for round := range 20 {
		m := alloc.Allocate(1<<16, 1<<20)
		buf := m.Reallocate(1 << 20)
		if !isZero(buf) {
			t.Fatalf("round %d: a new guest's memory holds another guest's bytes", round)
		}
		for i := range buf {
			buf[i] = 0xCD
		}
		m.Free()
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

// TestInstantiate_FailureFreesMemory checks that an instance whose
// instantiation fails gives its memory mapping back: a module woken again
// and again that always fails must not leak a mapping per wake.
func TestInstantiate_FailureFreesMemory(t *testing.T) {
	outOfBounds := driverModule()
	outOfBounds.data = []testData{{offset: 2<<16 - 2, bytes: []byte("four")}}
	initTraps := driverModule()
	initTraps.funcs = append(initTraps.funcs, testFunc{body: []byte{0x00}}) // unreachable
	initTraps.exports = append(initTraps.exports, testExport{name: "_initialize", index: uint32(len(driverImports) + 2)})
	tests := []struct {
		name   string
		module testModule
	}{
		{name: "data segment out of bounds", module: outOfBounds},
		{name: "init traps", module: initTraps},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(t.Context(), Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close(context.Background()) })
			m, err := r.Load(t.Context(), tc.module.encode())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release(context.Background())
			for range 20 {
				if _, err := m.Instantiate(t.Context(), InstanceConfig{Name: "test/fails", MemoryLimit: 1 << 20}); err == nil {
					t.Fatal("Instantiate succeeded, want an error")
				}
			}
			if live := r.mappings.Load(); live != 0 {
				t.Errorf("%d memory mappings left after failed instantiations, want 0", live)
			}
		})
	}
}
