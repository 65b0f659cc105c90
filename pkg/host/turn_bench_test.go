package host

import (
	"context"
	"fmt"
	"testing"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// BenchmarkController_ResyncTurn wakes an Immediate guest (test/guests/
// counter) for a resync's 9 keys at once, as make bench-system's
// replicator is woken, and waits until they ran and the guest is
// suspended again: the time of one resync, and the resumes it cost
// (resumes/op: 1 with turns, one per key without). The clock is fake, so
// turns end by their keys only.
func BenchmarkController_ResyncTurn(b *testing.B) {
	const keys = 9
	wasm := guesttest.Build(b, "counter")
	rt, err := wasmruntime.New(b.Context(), wasmruntime.Config{CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close(context.Background()) })
	for _, snapshot := range []bool{false, true} {
		b.Run(fmt.Sprintf("snapshot=%v", snapshot), func(b *testing.B) {
			m, err := rt.Load(b.Context(), wasm)
			if err != nil {
				b.Fatal(err)
			}
			h := turnServices(b, 2)
			c := turnController(b, h, m, "c", snapshot, 1)
			ran := make(chan int, keys)
			h.scheduler.endTurn = func(c *controller, t *turn) {
				c.endTurn(t)
				ran <- t.keys
			}
			runScheduler(b, h)
			resync := func() {
				for k := range keys {
					c.enqueue(wakeKey{"ns", fmt.Sprint(k)}, abi.ReasonResync)
				}
				for n := 0; n < keys; n += <-ran {
				}
			}
			resync() // the module's code compiled, the first snapshot written
			before, restoredBefore := resumes(b, h.metrics)
			b.ResetTimer()
			for range b.N {
				resync()
			}
			b.StopTimer()
			fresh, restored := resumes(b, h.metrics)
			b.ReportMetric(float64(fresh+restored-before-restoredBefore)/float64(b.N), "resumes/op")
		})
	}
}
