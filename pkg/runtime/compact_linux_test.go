package runtime

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestReleaseZeroPages: resident zero pages of an anonymous mapping are
// given back, pages with bytes are kept, and a page mapped from a file is
// kept even when it reads as zero: giving it back would bring back the
// file's bytes.
func TestReleaseZeroPages(t *testing.T) {
	const pages = 16
	mem := mapMemory(pages * compactPage)
	if mem == nil {
		t.Skip("cannot map memory")
	}
	defer unmapMemory(mem)
	for p := range pages {
		mem[p*compactPage] = 1 // resident
	}
	// Pages 2..5 and 9 are zero; pages 12..13 are a file's non-zero bytes,
	// which the guest overwrote with zeros.
	for _, p := range []int{2, 3, 4, 5, 9, 12, 13} {
		mem[p*compactPage] = 0
	}
	fd, err := unix.MemfdCreate("compact-test", 0)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, bytes.Repeat([]byte{0xAB}, 2*compactPage)); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.MmapPtr(fd, 0, unsafe.Pointer(&mem[12*compactPage]), 2*compactPage,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		t.Fatal(err)
	}
	clear(mem[12*compactPage : 14*compactPage])

	if got, want := releaseZeroPages(mem), uint64(5*compactPage); got != want {
		t.Errorf("releaseZeroPages = %d, want %d (pages 2..5 and 9)", got, want)
	}
	vec := make([]byte, pages)
	if err := mincore(mem, vec); err != nil {
		t.Fatal(err)
	}
	for p := range pages {
		released := p >= 2 && p <= 5 || p == 9
		if resident := vec[p]&1 != 0; resident == released {
			t.Errorf("page %d resident = %v, want %v", p, resident, !released)
		}
	}
	// Giving back what is already given back finds nothing.
	if got := releaseZeroPages(mem); got != 0 {
		t.Errorf("second releaseZeroPages = %d, want 0", got)
	}
	for p := range pages {
		released := p >= 2 && p <= 5 || p == 9
		want := byte(1)
		if released || p == 12 || p == 13 {
			want = 0
		}
		if mem[p*compactPage] != want {
			t.Errorf("page %d reads %#x, want %#x", p, mem[p*compactPage], want)
		}
	}
}
