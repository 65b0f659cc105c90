// Command ttl-cleaner is a wasm-apiserver controller that deletes ConfigMaps,
// and optionally Secrets (TTL_CLEANER_SECRETS=true in spec.env), once the
// time-to-live in their wasm.io/ttl annotation has passed since they were
// created. Its reconcile logic is the package cleaner, which the bundle
// example holds too.
package main

import (
	"github.com/wasm-apiserver/wasm-apiserver/examples/ttl-cleaner/cleaner"
	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

func init() {
	sdk.Register(cleaner.New(sdk.DefaultClient))
}

func main() {}
