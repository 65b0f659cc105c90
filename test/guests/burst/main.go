// Command burst is a test guest for compaction (the compact export of
// docs/abi.md): the key named "burst" allocates about 20 MB of objects of
// mixed sizes, filled with non-zero bytes, and drops them, as a controller
// does that lists many objects once; the key named "garbage" writes 16 MB of
// objects, 6 MB of them live at a time, which the collector's reuse keeps within the
// memory a burst grew, and the key named "page" 256 KB, as a reconcile decoding one
// response does; every key keeps a small live set and succeeds. The runtime's tests measure its resident memory after
// a burst, with and without compaction.
package main

import (
	"context"
	"fmt"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// burstBytes is how much garbage a burst makes.
const burstBytes = 20 << 20

// live is the guest's live set: a few hundred KB kept across reconciles.
var live [][]byte

// sink keeps the burst's objects reachable until it ends.
var sink [][]byte

func init() {
	sdk.Register(sdk.ReconcilerFunc(reconcile))
}

func reconcile(_ context.Context, req sdk.Request) (sdk.Result, error) {
	for i, b := range live {
		if !filled(b) {
			return sdk.Result{}, fmt.Errorf("live object %d was overwritten", i)
		}
	}
	if len(live) < 64 {
		live = append(live, fill(make([]byte, 4<<10)))
	}
	switch req.Name {
	case "burst":
		burst()
	case "garbage":
		garbage()
	case "page":
		page()
	}
	return sdk.Result{}, nil
}

// burst allocates burstBytes of small and large objects, all written, and
// drops them.
func burst() {
	sizes := []int{512, 4 << 10, 32 << 10, 256 << 10}
	total := 0
	for i := 0; total < burstBytes; i++ {
		b := fill(make([]byte, sizes[i%len(sizes)]))
		sink = append(sink, b)
		total += len(b)
	}
	if len(sink) == 0 {
		panic("burst: nothing allocated")
	}
	sink = nil
}

// garbageBytes is how much short-lived garbage the key "garbage" makes,
// of which at most garbageWindow objects of 32 KiB (6 MiB) are live at once.
const (
	garbageBytes  = 16 << 20
	garbageWindow = 192
)

// garbage allocates garbageBytes in objects of 32 KiB, each written and
// dropped garbageWindow objects later, as a controller does that decodes a
// page of objects at a time: the collector reuses their memory, so that
// they write over the memory's free pages without growing it.
func garbage() {
	window = make([][]byte, garbageWindow)
	for i := 0; i*(32<<10) < garbageBytes; i++ {
		window[i%garbageWindow] = fill(make([]byte, 32<<10))
	}
	window = nil
}

// window keeps the objects garbage and page write reachable while they
// run.
var window [][]byte

// pageBytes is how much garbage the key "page" makes.
const pageBytes = 256 << 10

// page allocates pageBytes in objects of 4 KiB, written and dropped, as a
// controller does that decodes one API response per reconcile.
func page() {
	window = make([][]byte, pageBytes/(4<<10))
	for i := range window {
		window[i] = fill(make([]byte, 4<<10))
	}
	window = nil
}

// fill writes non-zero bytes over b and returns it.
func fill(b []byte) []byte {
	for i := range b {
		b[i] = byte(i) | 1
	}
	return b
}

// filled says whether b still holds what fill wrote.
func filled(b []byte) bool {
	for i := range b {
		if b[i] != byte(i)|1 {
			return false
		}
	}
	return true
}

func main() {}
