module github.com/wasm-apiserver/wasm-apiserver/examples/bundle

go 1.26.0

require (
	github.com/wasm-apiserver/wasm-apiserver/examples/configmap-replicator v0.0.0
	github.com/wasm-apiserver/wasm-apiserver/examples/ttl-cleaner v0.0.0
	github.com/wasm-apiserver/wasm-apiserver/examples/widget-controller v0.0.0
	github.com/wasm-apiserver/wasm-apiserver/sdk v0.0.0
)

replace (
	github.com/wasm-apiserver/wasm-apiserver/examples/configmap-replicator => ../configmap-replicator
	github.com/wasm-apiserver/wasm-apiserver/examples/ttl-cleaner => ../ttl-cleaner
	github.com/wasm-apiserver/wasm-apiserver/examples/widget-controller => ../widget-controller
	github.com/wasm-apiserver/wasm-apiserver/sdk => ../../sdk
)
