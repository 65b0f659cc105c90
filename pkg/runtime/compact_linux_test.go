package runtime

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestReleaseZeroPages: resident zero pages of an anonymous mapping are
// given back, pages with bytes are kept, and pages mapped from a file that
// the process copied and zeroed are given back by mapping anonymous memory
// over them, when it may remap runs, and kept otherwise (MADV_DONTNEED
// would bring back the file's bytes). A file's page it did not copy is
// kept: it is the file's.
func TestReleaseZeroPages(t *testing.T) {
	tests := []struct {
		name   string
		remaps int
		// given are the pages given back, remapped how many runs were
		// replaced with anonymous memory.
		given    []int
		remapped int
	}{
		{name: "no remap", given: []int{2, 3, 4, 5, 9}},
		{name: "remaps", remaps: 4, given: []int{2, 3, 4, 5, 9, 11, 12, 14}, remapped: 2},
		{name: "remaps bounded, the longest run first", remaps: 1, given: []int{2, 3, 4, 5, 9, 11, 12}, remapped: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const pages = 16
			mem := mapMemory(pages * compactPage)
			if mem == nil {
				t.Skip("cannot map memory")
			}
			defer unmapMemory(mem)
			for p := range pages {
				mem[p*compactPage] = 1 // resident
			}
			// Pages 2..5 and 9 are zero; pages 10..15 are a file's
			// non-zero bytes, of which the process overwrote 11..12 and
			// 14 with zeros.
			for _, p := range []int{2, 3, 4, 5, 9} {
				mem[p*compactPage] = 0
			}
			fd, err := unix.MemfdCreate("compact-test", 0)
			if err != nil {
				t.Skipf("memfd_create: %v", err)
			}
			defer unix.Close(fd)
			if _, err := unix.Write(fd, bytes.Repeat([]byte{0xAB}, 6*compactPage)); err != nil {
				t.Fatal(err)
			}
			if _, err := unix.MmapPtr(fd, 0, unsafe.Pointer(&mem[10*compactPage]), 6*compactPage,
				unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
				t.Fatal(err)
			}
			clear(mem[11*compactPage : 13*compactPage])
			clear(mem[14*compactPage : 15*compactPage])
			_ = mem[10*compactPage] + mem[13*compactPage] + mem[15*compactPage] // the file's pages, mapped

			given := map[int]bool{}
			for _, p := range tt.given {
				given[p] = true
			}
			got, remapped, err := releaseZeroPages(mem, tt.remaps)
			if err != nil {
				t.Fatal(err)
			}
			if want := uint64(len(tt.given) * compactPage); got != want {
				t.Errorf("releaseZeroPages = %d, want %d (pages %v)", got, want, tt.given)
			}
			if remapped != tt.remapped {
				t.Errorf("%d runs remapped, want %d", remapped, tt.remapped)
			}
			vec := make([]byte, pages)
			if err := mincore(mem, vec); err != nil {
				t.Fatal(err)
			}
			for p := range pages {
				if resident := vec[p]&1 != 0; resident == given[p] {
					t.Errorf("page %d resident = %v, want %v", p, resident, !given[p])
				}
			}
			// Giving back what is already given back finds nothing.
			if got, _, _ := releaseZeroPages(mem, 0); got != 0 {
				t.Errorf("second releaseZeroPages = %d, want 0", got)
			}
			for p := range pages {
				want := byte(1)
				switch {
				case p == 10 || p == 13 || p == 15:
					want = 0xAB
				case given[p] || p == 11 || p == 12 || p == 14:
					want = 0
				}
				if mem[p*compactPage] != want {
					t.Errorf("page %d reads %#x, want %#x", p, mem[p*compactPage], want)
				}
			}
		})
	}
}
