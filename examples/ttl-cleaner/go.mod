module github.com/wasm-apiserver/wasm-apiserver/examples/ttl-cleaner

go 1.26.0

require github.com/wasm-apiserver/wasm-apiserver/sdk v0.0.0

replace github.com/wasm-apiserver/wasm-apiserver/sdk => ../../sdk
