package main

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadMemory_CountsMemfds checks that the memory measured of a process
// includes the pages of a memfd it holds and does not map, which its PSS
// leaves out: the server kept guests' templates in such files.
func TestReadMemory_CountsMemfds(t *testing.T) {
	const size = 32 << 20
	before, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.MemfdCreate("benchsystem-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	defer unix.Close(fd)
	page := make([]byte, 1<<20)
	for i := range page {
		page[i] = 1
	}
	for off := int64(0); off < size; off += int64(len(page)) {
		if _, err := unix.Pwrite(fd, page, off); err != nil {
			t.Fatal(err)
		}
	}
	after, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The test's own heap moves by a few MiB at most.
	if grew := after.PSS - before.PSS; grew < size-4<<20 || grew > size+8<<20 {
		t.Errorf("PSS grew by %d bytes with a memfd of %d written, want about that", grew, size)
	}
	// Mapped and touched, its pages are in the PSS once, not twice.
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	var sum byte
	for i := 0; i < size; i += 4096 {
		sum += b[i]
	}
	mapped, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if grew := mapped.PSS - before.PSS; grew < size-4<<20 || grew > size+8<<20 {
		t.Errorf("PSS grew by %d bytes with a memfd of %d written and mapped (sum %d), want about that", grew, size, sum)
	}
}
