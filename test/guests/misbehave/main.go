// Command misbehave is a raw-ABI test guest that misbehaves as its
// environment says, to check that the host bounds it:
//
//   - MISBEHAVE_INIT=loop spins forever in initialization; =sleep sleeps
//     for an hour there.
//   - MISBEHAVE_RECONCILE=sleep sleeps for an hour in reconcile; =bigline
//     writes one 40 MB line to stdout; =stdoutspam writes 100,000 short
//     lines to stdout; =logspam makes 100,000 log host calls.
//   - MISBEHAVE_COMPACT=loop spins forever in the compact export; =trap
//     panics there; =grow allocates 256 MiB there.
//
// Without them it does nothing and succeeds.
package main

import (
	"bytes"
	"os"
	"time"
	"unsafe"
)

// spins counts the loop's iterations, so the loop is not optimized away.
var spins uint64

//go:wasmexport wasm_apiserver_abi_v1
func abiV1() {}

func init() {
	switch os.Getenv("MISBEHAVE_INIT") {
	case "loop":
		for {
			spins++
		}
	case "sleep":
		time.Sleep(time.Hour)
	}
}

//go:wasmexport reconcile
func reconcile(inputLen uint32) uint32 {
	switch os.Getenv("MISBEHAVE_RECONCILE") {
	case "sleep":
		time.Sleep(time.Hour)
	case "bigline":
		line := append(bytes.Repeat([]byte("x"), 40<<20), '\n')
		_, _ = os.Stdout.Write(line)
	case "stdoutspam":
		for range 100_000 {
			_, _ = os.Stdout.Write([]byte("spam\n"))
		}
	case "logspam":
		msg := []byte("spam")
		for range 100_000 {
			hostLog(0, unsafe.Pointer(&msg[0]), uint32(len(msg)))
		}
	}
	return 0
}

// compact is the export the host calls to have a guest zero its free
// memory (docs/abi.md); this one does nothing unless told to misbehave.
//
//go:wasmexport compact
func compact() {
	switch os.Getenv("MISBEHAVE_COMPACT") {
	case "loop":
		for {
			spins++
		}
	case "trap":
		panic("compact: told to trap")
	case "grow":
		hoard = make([]byte, 256<<20)
	}
}

// hoard keeps what compact allocated.
var hoard []byte

func main() {}
