//go:build wasip1

package main

import "unsafe"

// hostLog is the log host call of docs/abi.md.
//
//go:wasmimport wasm_apiserver log
func hostLog(level uint32, ptr unsafe.Pointer, n uint32)
