package modules

import "github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"

var wasmModule = modulestest.WasmModule
