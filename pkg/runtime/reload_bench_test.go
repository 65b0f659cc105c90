package runtime_test

import (
	"context"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// BenchmarkWake_Evicted is one wake of the echo guest, fresh instance,
// one reconcile and close, whose module gave up its compiled code before
// it, against the same wake of a module that stays resident (resident):
//   - code-released: the module stays loaded but has its code's resident
//     pages dropped (ReleaseCodePages before each wake, not timed);
//   - code-dropped-under-budget: a budget that holds one module and what
//     another keeps besides its code; another module's wake before each
//     (not timed) makes the budget drop the module's code, which it maps
//     back from its file;
//   - evicted-under-budget: the same budget with the code kept in
//     anonymous memory, which the budget cannot drop: it closes the
//     module, and each wake loads it again;
//   - evicted: a budget of one byte, under which the module is over the
//     budget and closed again as its instance closes.
//
// It reports the median and 99th percentile.
func BenchmarkWake_Evicted(b *testing.B) {
	wasm := guest(b, "echo")
	for _, tc := range []struct {
		name    string
		budget  int64
		release bool
		// fitsOne sets a budget that holds one module, not two: another
		// module's wake before each (not timed) drops the module's code
		// or, with anonymous set, evicts it.
		fitsOne   bool
		anonymous bool
	}{{"resident", 0, false, false, false}, {"code-released", 0, true, false, false},
		{"code-dropped-under-budget", 0, false, true, false}, {"evicted-under-budget", 0, false, true, true},
		{"evicted", 1, false, false, false}} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.fitsOne {
				tc.budget = compiledCost(b, wasm) * 3 / 2
			}
			// The code of the modules of the cases before is unmapped now,
			// not while this one compiles (codefile.go).
			for range 2 {
				goruntime.GC()
				time.Sleep(10 * time.Millisecond)
			}
			cfg := runtime.Config{CacheDir: sharedCacheDir(b), CompiledBudgetBytes: tc.budget}
			if tc.anonymous {
				cfg = runtime.WithoutCodeFiles(cfg)
			}
			r, err := runtime.New(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(context.Background())
			m, err := r.Load(b.Context(), guesttest.WithCustomSection(wasm, "reload"))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Release(context.Background())
			var other *runtime.Module
			if tc.budget > 0 {
				other, err = r.Load(b.Context(), guesttest.WithCustomSection(wasm, "reload-other"))
				if err != nil {
					b.Fatal(err)
				}
				defer other.Release(context.Background())
				if !gone(m, tc.anonymous || !tc.fitsOne) {
					b.Fatal("the module's compiled code was neither evicted nor dropped")
				}
			}
			wakeOf := func(m *runtime.Module) { wakeOnce(b, m, 64<<20) }
			wake := func() { wakeOf(m) }
			var before func()
			if tc.fitsOne {
				before = func() {
					wakeOf(other)
					if !gone(m, tc.anonymous) {
						b.Fatal("the other module's wake neither evicted the module nor dropped its code")
					}
				}
			}
			if tc.release {
				// The code a wake runs is resident; the first release
				// maps it from a file, the next ones drop it.
				wake()
				if _, err := runtime.ReleaseCodePages(); err != nil {
					b.Fatal(err)
				}
				wake()
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
			if tc.budget > 0 && !tc.fitsOne && m.Resident() {
				b.Fatal("the module stayed resident")
			}
		})
	}
}

// wakeOnce is one wake of a suspended guest of m: a fresh instance with
// memoryLimit, one reconcile with a fake API, close.
func wakeOnce(b *testing.B, m *runtime.Module, memoryLimit uint64) {
	inst, err := m.Instantiate(b.Context(), runtime.InstanceConfig{Name: "bench", MemoryLimit: memoryLimit, API: &fakeAPI{}, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := inst.Reconcile(b.Context(), runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}); err != nil {
		b.Fatal(err)
	}
	inst.Close(b.Context())
}

// gone reports whether m's compiled code was evicted, or when evicted is
// not set, whether its code was dropped while m stayed loaded.
func gone(m *runtime.Module, evicted bool) bool {
	if evicted {
		return !m.Resident()
	}
	return m.Resident() && runtime.CodeDropped(m)
}

// compiledCost returns the estimated size of wasm's compiled code, as the
// budget counts it.
func compiledCost(b *testing.B, wasm []byte) int64 {
	r, err := runtime.New(b.Context(), runtime.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	m, err := r.Load(b.Context(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release(context.Background())
	return r.CompiledBytes()
}

// BenchmarkWake_LargerThanBudget is one wake of the client-go guest (fresh
// instance, one reconcile, close) under a compiled-code budget of 256 MiB,
// the server's default, which its compiled code (~302 MiB) is larger than
// but what it keeps without its native code (~81 MiB) is not. With its
// native code dropped when idle (idle-part-kept), the module stays loaded
// and the wake maps back what it runs; with its code kept in anonymous
// memory (reloaded), the module is over the budget, closed after each wake
// and loaded again at the next. It reports the median and 99th percentile.
func BenchmarkWake_LargerThanBudget(b *testing.B) {
	for _, tc := range []struct {
		name      string
		anonymous bool
	}{{"idle-part-kept", false}, {"reloaded", true}} {
		b.Run(tc.name, func(b *testing.B) {
			for range 2 { // earlier modules' code unmapped now (codefile.go)
				goruntime.GC()
				time.Sleep(10 * time.Millisecond)
			}
			cfg := runtime.Config{CompiledBudgetBytes: 256 << 20}
			if tc.anonymous {
				cfg = runtime.WithoutCodeFiles(cfg)
			}
			_, m := benchModule(b, "clientgo", cfg)
			wake := func() { wakeOnce(b, m, 256<<20) }
			wake()
			if over := m.CheckCompiledBudget() != nil; over != tc.anonymous || !gone(m, tc.anonymous) {
				b.Fatalf("after a wake: over the budget %t, resident %t, code dropped %t", over, m.Resident(), runtime.CodeDropped(m))
			}
			measureEach(b, nil, wake)
		})
	}
}
