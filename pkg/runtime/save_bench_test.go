package runtime_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/test/benchreport"
)

// BenchmarkSaveSnapshot is the suspend of a guest that keeps a snapshot,
// which a controller with spec.suspend.snapshot pays after every wake
// under the Immediate policy: restored from its snapshot, one reconcile,
// untimed, then its snapshot written again over the file it was restored
// from (SaveSnapshot: p50-ns, p99-ns) and the instance closed, which also
// lets the old file go (save and close: suspend-p50-ns, suspend-p99-ns).
func BenchmarkSaveSnapshot(b *testing.B) {
	for _, g := range resumeGuests {
		b.Run(g.name, func(b *testing.B) {
			dir := b.TempDir()
			_, m := benchModule(b, g.name, runtime.Config{ImageDir: filepath.Join(dir, "images")})
			cfg := runtime.InstanceConfig{Name: "bench", MemoryLimit: g.limit, API: &fakeAPI{}, Logger: discard}
			req := runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}
			snapshot := filepath.Join(dir, "snapshot")
			inst, err := m.Instantiate(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			var (
				saves, suspends []time.Duration
				size            int64
			)
			b.StopTimer()
			for range b.N {
				if _, err := inst.Reconcile(b.Context(), req); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				size, err = inst.SaveSnapshot(snapshot)
				saves = append(saves, time.Since(start))
				inst.Close(b.Context())
				suspends = append(suspends, time.Since(start))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if inst, err = m.RestoreFile(b.Context(), cfg, snapshot); err != nil {
					b.Fatal(err)
				}
			}
			inst.Close(b.Context())
			benchreport.Percentiles(b, "", saves)
			benchreport.Percentiles(b, "suspend-", suspends)
			b.ReportMetric(float64(size), "snapshot-bytes")
		})
	}
}
