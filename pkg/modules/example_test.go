package modules_test

import (
	"fmt"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
)

func ExampleCheckWasm() {
	for _, b := range [][]byte{
		[]byte("\x00asm\x01\x00\x00\x00"),            // a core module
		[]byte("\x00asm\x0d\x00\x01\x00"),            // a component
		[]byte("\x7fELF\x02\x01\x01\x00native code"), // not Wasm
	} {
		fmt.Println(modules.ReasonOf(modules.CheckWasm(b)) == modules.ReasonNotWasm)
	}
	// Output:
	// false
	// true
	// true
}
