package runtime

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPagemapAnswers: the page map passes the check on this kernel, and
// fails it when it answers with zeros (a sandbox that hides the flags) or
// for pages other than those asked about (an emulator whose addresses are
// not the kernel's), so that no snapshot is written from hints it gave.
func TestPagemapAnswers(t *testing.T) {
	if os.Getpagesize() != snapshotPage {
		t.Skip("the kernel's page is not a snapshot page")
	}
	if _, err := readPagemap(make([]byte, snapshotPage)); err != nil {
		t.Skipf("the page map cannot be read here: %v", err)
	}
	if !pagemapAnswers(readPagemap) {
		t.Error("the kernel's page map failed the check")
	}
	zeros := func(b []byte) ([]uint64, error) { return make([]uint64, len(b)/snapshotPage), nil }
	if pagemapAnswers(zeros) {
		t.Error("a page map of zeros passed the check")
	}
	other, err := unix.Mmap(-1, 0, 2*snapshotPage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(other)
	elsewhere := func(b []byte) ([]uint64, error) {
		// The entries of as many pages of another mapping, never touched.
		return readPagemap(other[:len(b)])
	}
	if pagemapAnswers(elsewhere) {
		t.Error("a page map of other pages passed the check")
	}
}
