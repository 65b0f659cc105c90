package runtime_test

import (
	"context"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// BenchmarkWake_Evicted is one wake of the echo guest, fresh instance,
// one reconcile and close, whose compiled code was evicted before it
// (evicted: a budget of one byte evicts it again as its instance closes),
// or stayed loaded but had its resident pages dropped (code-released:
// ReleaseCodePages before each wake, not timed), against the same wake of
// a module that stays resident (resident). It reports the median and 99th
// percentile.
func BenchmarkWake_Evicted(b *testing.B) {
	wasm := guest(b, "echo")
	for _, tc := range []struct {
		name    string
		budget  int64
		release bool
	}{{"resident", 0, false}, {"code-released", 0, true}, {"evicted", 1, false}} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := runtime.New(b.Context(), runtime.Config{CacheDir: sharedCacheDir(b), CompiledBudgetBytes: tc.budget})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(context.Background())
			m, err := r.Load(b.Context(), guesttest.WithCustomSection(wasm, "reload"))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Release(context.Background())
			if tc.budget > 0 {
				other, err := r.Load(b.Context(), guesttest.WithCustomSection(wasm, "reload-other"))
				if err != nil {
					b.Fatal(err)
				}
				defer other.Release(context.Background())
				if m.Resident() {
					b.Fatal("the module was not evicted")
				}
			}
			cfg := runtime.InstanceConfig{Name: "bench", MemoryLimit: 64 << 20, API: &fakeAPI{}, Logger: discard}
			req := runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}
			wake := func() {
				inst, err := m.Instantiate(b.Context(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := inst.Reconcile(b.Context(), req); err != nil {
					b.Fatal(err)
				}
				inst.Close(b.Context())
			}
			var before func()
			if tc.release {
				wake() // the code a wake runs is resident, to be released
				if r.CodeFileBytes() == 0 {
					b.Fatal("the module's code is not mapped from a file")
				}
				before = func() {
					if n, err := runtime.ReleaseCodePages(); err != nil || n == 0 {
						b.Fatalf("released %d bytes of code: %v", n, err)
					}
				}
			}
			measureEach(b, before, wake)
			if tc.budget > 0 && m.Resident() {
				b.Fatal("the module stayed resident")
			}
		})
	}
}
