module github.com/wasm-apiserver/wasm-apiserver/test/guests/bundle10

go 1.26.0

require (
	github.com/wasm-apiserver/wasm-apiserver/examples/configmap-replicator v0.0.0
	github.com/wasm-apiserver/wasm-apiserver/sdk v0.0.0
)

replace (
	github.com/wasm-apiserver/wasm-apiserver/examples/configmap-replicator => ../../../examples/configmap-replicator
	github.com/wasm-apiserver/wasm-apiserver/sdk => ../../../sdk
)
