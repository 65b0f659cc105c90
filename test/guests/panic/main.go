// Command panic is a test guest whose reconcile panics with a runtime error
// inside the SDK, which recovers it: the reconcile fails with the panic as
// its error and the instance stays usable. A key named "ok" succeeds.
package main

import (
	"context"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

func init() {
	sdk.Register(sdk.ReconcilerFunc(reconcile))
}

func reconcile(_ context.Context, req sdk.Request) (sdk.Result, error) {
	if req.Name == "ok" {
		return sdk.Result{}, nil
	}
	var m map[string]int
	m[req.Name]++ // assignment to entry in nil map
	return sdk.Result{}, nil
}

func main() {}
