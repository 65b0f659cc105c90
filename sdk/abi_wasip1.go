//go:build wasip1

package sdk

import (
	"fmt"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// The host functions of docs/abi.md, import module wasm_apiserver.

//go:wasmimport wasm_apiserver input_read
func inputRead(ptr *byte, n uint32) uint32

//go:wasmimport wasm_apiserver result_write
func resultWrite(ptr *byte, n uint32) uint32

//go:wasmimport wasm_apiserver api_request
func apiRequest(ptr *byte, n uint32, respLen *uint32) uint32

//go:wasmimport wasm_apiserver api_response_read
func apiResponseRead(ptr *byte, n uint32) uint32

//go:wasmimport wasm_apiserver log
func hostLogImport(level uint32, ptr *byte, n uint32)

// abiV1 is the marker export that says this module speaks ABI version 1.
// The host never calls it.
//
//go:wasmexport wasm_apiserver_abi_v1
func abiV1() {}

// sharedInit is the marker export that says this module's initialization
// does not need the guest's name (ControllerName): the host passes every
// guest the same argument and may start the instances of all its
// controllers in a namespace from one initialized memory. The host never
// calls it.
//
//go:wasmexport wasm_apiserver_shared_init
func sharedInit() {}

// reconcile is the entry point the host calls once per wake with the length
// of the input. It returns 0 when the reconcile succeeded and 1 when it failed.
//
//go:wasmexport reconcile
func reconcile(inputLen uint32) uint32 {
	return exchange(abi.ReconcileExport, inputLen, handle)
}

// selectReconcilerExport is the entry point the host calls once per
// instance, before its first reconcile, with the length of the selection
// (see register.go). It returns 0 when the module holds the reconciler
// selected and 1 when it does not.
//
//go:wasmexport select_reconciler
func selectReconcilerExport(inputLen uint32) uint32 {
	return exchange(abi.SelectReconcilerExport, inputLen, selectReconciler)
}

// exchange reads the input of the call export, passes it to fn, writes
// fn's result and returns 0 when fn succeeded, 1 when it failed.
func exchange(export string, inputLen uint32, fn func(input []byte) (result []byte, ok bool)) uint32 {
	input := make([]byte, inputLen)
	n, errno := abi.SplitCount(inputRead(ptrTo(input), inputLen))
	if errno != 0 {
		hostLog(LevelError, "sdk: "+export+": "+abi.CallInputRead+": "+errno.Error())
	}
	result, ok := fn(input[:min(n, inputLen)])
	if len(result) > 0 {
		if errno := resultWrite(ptrTo(result), uint32(len(result))); errno != 0 {
			hostLog(LevelError, "sdk: "+export+": "+abi.CallResultWrite+": "+Errno(errno).Error())
		}
	}
	if ok {
		return 0
	}
	return 1
}

// hostRequest sends an api_request envelope and returns the response envelope.
func hostRequest(envelope []byte) ([]byte, error) {
	var respLen uint32
	if errno := apiRequest(ptrTo(envelope), uint32(len(envelope)), &respLen); errno != 0 {
		return nil, fmt.Errorf("%s: %w", abi.CallAPIRequest, Errno(errno))
	}
	resp := make([]byte, respLen)
	n, errno := abi.SplitCount(apiResponseRead(ptrTo(resp), respLen))
	if errno != 0 {
		return nil, fmt.Errorf("%s: %w", abi.CallAPIResponseRead, errno)
	}
	return resp[:min(n, respLen)], nil
}

// hostLog writes msg to the server's log through the log host call.
func hostLog(level Level, msg string) {
	b := []byte(msg)
	hostLogImport(uint32(level), ptrTo(b), uint32(len(b)))
}

// ptrTo returns the address of b's first byte, or nil for an empty b (the
// host reads nothing at a zero length).
func ptrTo(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}
