package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// fuzzMaxCodeBytes keeps each execution of FuzzLoad cheap: larger code is
// refused before it is rewritten or compiled.
const fuzzMaxCodeBytes = 256 << 10

// FuzzLoad loads module bytes a tenant could choose: Load must fail with an
// *ABIError or succeed, and a module it accepts must start (or fail to)
// without bringing the process down. It never panics. Run it for a bounded
// time with
//
//	go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 60s ./pkg/runtime
func FuzzLoad(f *testing.F) {
	for _, seed := range loadSeeds() {
		f.Add(seed)
	}
	if !testing.Short() {
		for _, name := range []string{"loop", "noabi", "misbehave"} {
			f.Add(guesttest.Build(f, name))
		}
	}
	r, err := New(context.Background(), Config{MaxCodeBytes: fuzzMaxCodeBytes})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = r.Close(context.Background()) })
	f.Fuzz(func(t *testing.T, wasm []byte) {
		ctx := context.Background()
		m, err := r.Load(ctx, wasm)
		if err != nil {
			var abiErr *ABIError
			if !errors.As(err, &abiErr) {
				t.Fatalf("Load error %T %v, want an *ABIError", err, err)
			}
			return
		}
		defer m.Release(ctx)
		inst, err := m.Instantiate(ctx, InstanceConfig{Name: "fuzz", MemoryLimit: 1 << 20, InitTimeout: 20 * time.Millisecond, Logger: logr.Discard()})
		if err == nil {
			inst.Close(ctx)
		}
	})
}

// loadSeeds are small modules of every shape Load must refuse or accept.
func loadSeeds() [][]byte {
	valid := driverModule().encode()
	seeds := [][]byte{
		valid,
		valid[:len(valid)/2],
		[]byte("\x00asm\x01\x00\x00\x00"),
		[]byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x0f"), // a section longer than the module
	}
	for _, mutate := range loadRefusals {
		m := driverModule()
		mutate.edit(&m)
		seeds = append(seeds, m.encode())
	}
	return seeds
}
