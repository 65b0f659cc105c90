// Command loop is a test guest whose reconcile never returns: it spins in a
// tight loop with no function calls, so only the host's timeout stops it.
package main

// spins counts the loop's iterations, so the loop is not optimized away.
var spins uint64

//go:wasmexport wasm_apiserver_abi_v1
func abiV1() {}

//go:wasmexport reconcile
func reconcile(inputLen uint32) uint32 {
	for {
		spins++
	}
}

func main() {}
