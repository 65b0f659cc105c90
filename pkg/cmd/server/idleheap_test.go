package server

import (
	"runtime"
	"runtime/metrics"
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
