// Command compute is a test guest whose reconcile runs a fixed amount of
// integer work and no host calls, to measure what interrupting guests costs
// (the runtime's WithCloseOnContextDone).
package main

import (
	"context"
	"fmt"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// iterations is the work of one reconcile.
const iterations = 1_000_000

// sink keeps the result alive so the loop is not optimized away.
var sink uint64

func init() {
	sdk.Register(sdk.ReconcilerFunc(func(context.Context, sdk.Request) (sdk.Result, error) {
		x := uint64(88172645463325252)
		for i := 0; i < iterations; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		sink += x
		if sink == 0 {
			return sdk.Result{}, fmt.Errorf("unreachable")
		}
		return sdk.Result{}, nil
	}))
}

func main() {}
