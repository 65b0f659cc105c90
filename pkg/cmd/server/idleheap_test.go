package server

import (
	"errors"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
)

// heapFreeMetric is the Go heap's free memory still resident: what
// releaseFreeHeap gives back.
const heapFreeMetric = "/memory/classes/heap/free:bytes"

func readHeapMetric(t *testing.T, name string) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("metric %s is not supported", name)
	}
	return s[0].Value.Uint64()
}

// After a burst frees a lot, the quiet server's release leaves no free
// heap resident: the garbage is collected and its pages given back at
// once, not kept for the next burst.
func TestReleaseFreeHeap(t *testing.T) {
	const chunks, chunk = 64, 1 << 20
	// A heap that will grow again: the runtime keeps free pages for it
	// up to its next goal, which this live data raises.
	live := make([][]byte, 16)
	for i := range live {
		live[i] = make([]byte, chunk)
	}
	burst := make([][]byte, chunks)
	for i := range burst {
		burst[i] = make([]byte, chunk)
		for j := 0; j < chunk; j += 4096 {
			burst[i][j] = 1 // resident
		}
	}
	burst = nil
	runtime.GC() // the burst is now free heap, mostly still resident
	freeBefore := readHeapMetric(t, heapFreeMetric)

	kib := releaseFreeHeap()

	freeAfter := readHeapMetric(t, heapFreeMetric)
	runtime.KeepAlive(live)
	if freeAfter > 4<<20 {
		t.Errorf("%d KiB of free heap still resident after the release (%d KiB before it)", freeAfter/1024, freeBefore/1024)
	}
	if kib < 0 || (freeBefore > 32<<20 && kib < 16<<10) {
		t.Errorf("release reported %d KiB given back; %d KiB were free and resident before it", kib, freeBefore/1024)
	}
}

// A failed release of the executable's pages is reported once and not
// tried again; the heap goes on being given back at every release.
func TestIdleMemoryRelease_HeapAfterExecPagesFail(t *testing.T) {
	execCalls := 0
	release := idleMemoryRelease(func() (pageRelease, error) {
		execCalls++
		return pageRelease{}, errors.New("madvise: operation not permitted")
	}, func() (int64, error) { return 0, nil })
	if _, err := release(); err == nil {
		t.Fatal("the first release hid the executable pages' failure")
	}
	for range 2 {
		burst := make([][]byte, 32)
		for i := range burst {
			burst[i] = make([]byte, 1<<20)
			for j := 0; j < len(burst[i]); j += 4096 {
				burst[i][j] = 1 // resident
			}
		}
		burst = nil
		runtime.GC()
		r, err := release()
		if err != nil {
			t.Errorf("a later release failed again: %v", err)
		}
		if r.heapKiB <= 0 {
			t.Errorf("a release after the failure gave back %d KiB of a freed 32 MiB burst", r.heapKiB)
		}
	}
	if execCalls != 1 {
		t.Errorf("the executable's pages were tried %d times, want once", execCalls)
	}
}

// The modules' compiled code is released before the executable's pages,
// so that the code that released it goes too; a failure of either is
// reported once and that one alone is not tried again.
func TestIdleMemoryRelease_ModuleCode(t *testing.T) {
	var order []string
	codeErr := errors.New("/proc/self/smaps: permission denied")
	release := idleMemoryRelease(func() (pageRelease, error) {
		order = append(order, "executable")
		return pageRelease{kib: 3}, nil
	}, func() (int64, error) {
		order = append(order, "modules")
		return 8 << 10, codeErr
	})
	r, err := release()
	if !errors.Is(err, codeErr) {
		t.Errorf("the first release returned %v, want the modules' failure", err)
	}
	if r.kib != 3 || r.moduleCodeKiB != 8 {
		t.Errorf("release = %+v, want the executable's 3 KiB and the modules' 8 KiB", r)
	}
	if _, err := release(); err != nil {
		t.Errorf("a later release failed again: %v", err)
	}
	if want := []string{"modules", "executable", "executable"}; !slices.Equal(order, want) {
		t.Errorf("released %v, want %v", order, want)
	}
}
