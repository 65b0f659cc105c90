package host

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/test/benchreport"
)

// BenchmarkSnapshotWakes wakes a controller that keeps a snapshot and
// suspends after every reconcile (policy Immediate) with the burst guest's
// key "page", which writes 256 KB of objects it drops, as a controller
// decoding one response does: its memory stops growing after the first
// wakes, but its garbage fills more of the pages the snapshot stores, up to
// its heap's GC goal.
// growth compacts the guest before a snapshot once the last one stored
// twice what the one after the last compaction did (compactBeforeSnapshot);
// memory-only compacts only when the memory grew. It reports the wake's
// p50 and p99 (restore, reconcile, compaction when due, save and close),
// the first snapshot's size, the snapshots' mean size, and how many
// compactions ran, with their p50 and p99.
func BenchmarkSnapshotWakes(b *testing.B) {
	for _, growth := range []bool{true, false} {
		name := "memory-only"
		if growth {
			name = "growth"
		}
		b.Run(name, func(b *testing.B) {
			h, _ := snapshotServices(b)
			c := burstController(b, h, v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true}, 1)
			var durations []time.Duration
			var stored, first int64
			// The compactions, timed: the guest's part and the pages
			// given back.
			var compactions []time.Duration
			c.pool.compactGuest = func(ctx context.Context, inst *wasmruntime.Instance) (uint64, error) {
				start := time.Now()
				defer func() { compactions = append(compactions, time.Since(start)) }()
				return compactInstance(ctx, inst)
			}
			for b.Loop() {
				if !growth {
					c.pool.mu.Lock()
					c.pool.snapshotFloor = math.MaxInt64 / 4 // never grown
					c.pool.mu.Unlock()
				}
				start := time.Now()
				if _, err := c.reconcile(c.ctx, wakeKey{"ns", "page"}, "event"); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
				c.pool.mu.Lock()
				stored += c.pool.lastSnapshot
				if first == 0 {
					first = c.pool.lastSnapshot
				}
				c.pool.mu.Unlock()
			}
			benchreport.Percentiles(b, "", durations)
			b.ReportMetric(float64(first), "first-snapshot-bytes")
			b.ReportMetric(float64(stored)/float64(len(durations)), "mean-snapshot-bytes")
			b.ReportMetric(float64(len(compactions)), "compactions")
			benchreport.Percentiles(b, "compaction-", compactions)
		})
	}
}
