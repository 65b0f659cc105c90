package server

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// residentExecutable returns how many KiB of the test binary's code and
// read-only data are resident in this process.
func residentExecutable(t *testing.T) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mappings, err := parseExecutableMappings(f, fileID{major: unix.Major(st.Dev), minor: unix.Minor(st.Dev), inode: st.Ino})
	if err != nil {
		t.Fatal(err)
	}
	var kib int64
	for _, m := range mappings {
		if !m.writable {
			kib += m.rss
		}
	}
	return kib
}

// The test binary links what the server links; starting it touched much of
// its code and read-only data, as starting the server does.
func TestReleaseExecutablePages(t *testing.T) {
	before := residentExecutable(t)
	if before == 0 {
		t.Fatal("nothing of the executable is resident before the release")
	}
	start := time.Now()
	released, err := releaseExecutablePages()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("releaseExecutablePages: %v", err)
	}
	after := residentExecutable(t)
	t.Logf("resident code and read-only data: %d KiB before, %d KiB released in %s, %d KiB after", before, released, took, after)
	if after > before/2 {
		t.Errorf("resident code and read-only data went from %d KiB to %d KiB, want at most half", before, after)
	}
	if released < before/2 {
		t.Errorf("released %d KiB of %d KiB resident", released, before)
	}
}
