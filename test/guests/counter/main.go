// Command counter is a test guest for snapshots. It keeps a counter in a Go
// global, increments it on every reconcile, and reports it as the error of a
// failed reconcile ("count=N") for the key named "report", so tests can tell
// a restored instance from a fresh one; it also logs "counted N" on every
// reconcile, for tests that read the server's log. The key named "churn" allocates and
// frees a few megabytes and runs the garbage collector, to check that the Go
// runtime of a restored instance is consistent. The key named "whoami" fails
// with "controller=NAMESPACE/NAME args=ARGS": the WasmController the guest
// runs for (sdk.ControllerName) and its os.Args.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// count is the number of reconciles this instance ran.
var count int

// started is when the instance was initialized, by the guest's monotonic
// clock.
var started = time.Now()

func init() {
	sdk.Register(sdk.ReconcilerFunc(reconcile))
}

func reconcile(_ context.Context, req sdk.Request) (sdk.Result, error) {
	count++
	sdk.Info(fmt.Sprintf("counted %d", count))
	switch req.Name {
	case "report":
		return sdk.Result{}, fmt.Errorf("count=%d", count)
	case "clock":
		// The monotonic clock never goes back across a restore.
		return sdk.Result{}, fmt.Errorf("count=%d since=%d", count, time.Since(started).Nanoseconds())
	case "churn":
		churn()
	case "whoami":
		// Whom the guest runs for, and the arguments its init saw.
		return sdk.Result{}, fmt.Errorf("controller=%s args=%s", sdk.ControllerName(), strings.Join(os.Args, " "))
	}
	return sdk.Result{}, nil
}

// churn allocates maps, slices and strings, keeps some of them, and
// collects.
func churn() {
	kept := make([][]byte, 0, 64)
	m := map[string]int{}
	for i := range 20_000 {
		b := make([]byte, 256)
		b[0] = byte(i)
		if i%400 == 0 {
			kept = append(kept, b)
		}
		m[strings.Repeat("k", i%17)+fmt.Sprint(i)] = i
	}
	runtime.GC()
	if len(kept) != 50 || len(m) != 20_000 {
		panic("churn: lost data")
	}
}

func main() {}
