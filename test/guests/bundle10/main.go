// Command bundle10 is a bundle of ten reconcilers for make bench-system:
// the configmap-replicator example's reconciler (the package replicator)
// registered under ten names, replicator-0 … replicator-9, and no default
// one. Each name behaves as the example does; what the bundle measures is N
// WasmControllers drawn from one module, which share its compiled code,
// against N distinct modules, which each compile their own.
package main

import (
	"strconv"

	"github.com/wasm-apiserver/wasm-apiserver/examples/configmap-replicator/replicator"
	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// reconcilers is how many reconcilers the bundle registers.
const reconcilers = 10

func init() {
	for i := range reconcilers {
		sdk.RegisterNamed("replicator-"+strconv.Itoa(i), replicator.New(sdk.DefaultClient))
	}
}

func main() {}
