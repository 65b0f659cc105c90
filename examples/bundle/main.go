// Command bundle is one wasm-apiserver module holding the three example
// controllers, as kube-controller-manager is one binary holding many: each
// WasmController running it selects one by name with spec.module.reconciler,
// and all of them share the module's compiled code.
//
//   - configmap-replicator: the package replicator (../configmap-replicator)
//   - ttl-cleaner: the package cleaner (../ttl-cleaner)
//   - widget-controller: the package widget (../widget-controller)
//
// It has no default reconciler: a WasmController that names none fails to
// load with the reason ReconcilerNotFound, listing these names.
package main

import (
	"github.com/wasm-apiserver/wasm-apiserver/examples/configmap-replicator/replicator"
	"github.com/wasm-apiserver/wasm-apiserver/examples/ttl-cleaner/cleaner"
	"github.com/wasm-apiserver/wasm-apiserver/examples/widget-controller/widget"
	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// init registers the reconcilers. Each instance runs only the one its
// WasmController selects; the others cost it nothing but their code.
func init() {
	sdk.RegisterNamed("configmap-replicator", replicator.New(sdk.DefaultClient))
	sdk.RegisterNamed("ttl-cleaner", cleaner.New(sdk.DefaultClient))
	sdk.RegisterNamed("widget-controller", widget.New(sdk.DefaultClient))
}

func main() {}
