// Command configmap-replicator is a wasm-apiserver controller that copies
// ConfigMaps labelled wasm.io/replicate=true into every namespace labelled
// wasm.io/replicate-configmaps=true, keeps the copies in step with their
// source, and deletes them when the source goes away. Its reconcile logic
// is the package replicator, which the bundle example holds too.
package main

import (
	"github.com/wasm-apiserver/wasm-apiserver/examples/configmap-replicator/replicator"
	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

func init() {
	sdk.Register(replicator.New(sdk.DefaultClient))
}

func main() {}
