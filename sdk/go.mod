module github.com/wasm-apiserver/wasm-apiserver/sdk

go 1.26.0
