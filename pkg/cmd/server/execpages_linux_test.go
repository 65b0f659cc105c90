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
	t.Logf("resident code and read-only data: %d KiB before, %d KiB released (%s) in %s, %d KiB after", before, released.kib, released.advice, took, after)
	if after > before/2 {
		t.Errorf("resident code and read-only data went from %d KiB to %d KiB, want at most half", before, after)
	}
	if released.kib < before/2 {
		t.Errorf("released %d KiB of %d KiB resident", released.kib, before)
	}
	if released.kib > before {
		t.Errorf("released %d KiB, more than the %d KiB resident", released.kib, before)
	}
}

// The released figure is what smaps shows, not what was resident: advice
// the kernel ignores, as it ignores MADV_PAGEOUT for a file the process
// neither owns nor may write, releases nothing; unmapping then does.
func TestReleaseExecutablePages_Measured(t *testing.T) {
	tests := []struct {
		name string
		// honoured is the advice the fake kernel acts on.
		honoured   map[int]bool
		wantAdvice string
		// wantMost is whether most of what was resident must be released;
		// otherwise at most a twentieth may be.
		wantMost bool
	}{
		{name: "advice ignored", honoured: map[int]bool{}, wantAdvice: adviceDontNeed},
		{name: "page-out ignored, unmapping honoured", honoured: map[int]bool{unix.MADV_DONTNEED: true},
			wantAdvice: adviceDontNeed, wantMost: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Touch the code again after an earlier release.
			_ = residentExecutable(t)
			before := residentExecutable(t)
			r, err := releaseExecutablePagesWith(func(addr, length uintptr, advice int) error {
				if !tt.honoured[advice] {
					return nil
				}
				return madvise(addr, length, advice)
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d KiB resident, released %d KiB with %q", before, r.kib, r.advice)
			if r.advice != tt.wantAdvice {
				t.Errorf("advice = %q, want %q", r.advice, tt.wantAdvice)
			}
			if tt.wantMost && r.kib < before/2 {
				t.Errorf("released %d KiB of %d KiB resident, want most", r.kib, before)
			}
			if !tt.wantMost && r.kib > before/20 {
				t.Errorf("released %d KiB of %d KiB resident although nothing was dropped", r.kib, before)
			}
		})
	}
}
