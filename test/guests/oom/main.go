// Command oom is a test guest whose reconcile allocates memory until the
// host's memory limit stops it.
package main

// held keeps every allocation reachable so the garbage collector frees nothing.
var held [][]byte

//go:wasmexport wasm_apiserver_abi_v1
func abiV1() {}

//go:wasmexport reconcile
func reconcile(inputLen uint32) uint32 {
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page
		}
		held = append(held, b)
	}
}

func main() {}
