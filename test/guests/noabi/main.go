// Command noabi is a test guest built as a reactor with a reconcile export but
// without the wasm_apiserver_abi_v1 marker, which the host must refuse to load.
package main

//go:wasmexport reconcile
func reconcile(inputLen uint32) uint32 {
	return 0
}

func main() {}
