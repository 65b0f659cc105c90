// Command trap is a test guest whose reconcile traps. It uses the raw ABI,
// not the SDK, whose reconcile recovers panics.
//
// Its reconcile panics and nothing recovers. In a c-shared module the Go
// runtime treats an unrecovered panic as GOTRACEBACK=crash does: it prints
// the panic to stderr and executes an unreachable instruction, so the module
// traps rather than calling proc_exit.
package main

// abiV1 marks the module as built for ABI version 1.
//
//go:wasmexport wasm_apiserver_abi_v1
func abiV1() {}

//go:wasmexport reconcile
func reconcile(inputLen uint32) uint32 {
	panic("trap guest: reconcile panics on purpose")
}

func main() {}
