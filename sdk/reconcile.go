package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// Reasons a reconcile runs, the values of Request.Reason.
const (
	// ReasonEvent: a watched object changed and a wake rule matched.
	ReasonEvent = abi.ReasonEvent
	// ReasonResync: the WasmController's resyncPeriod elapsed.
	ReasonResync = abi.ReasonResync
	// ReasonRequeue: a previous reconcile asked for it with Result.RequeueAfter.
	ReasonRequeue = abi.ReasonRequeue
	// ReasonRetry: a previous reconcile of the key failed.
	ReasonRetry = abi.ReasonRetry
)

// Request is the key of one reconcile and why it runs.
type Request struct {
	// Namespace of the object; empty for a cluster-scoped key.
	Namespace string
	// Name of the object.
	Name string
	// Reason is ReasonEvent, ReasonResync, ReasonRequeue or ReasonRetry.
	Reason string
}

// String returns the key as "namespace/name", or "name" when cluster-scoped.
func (r Request) String() string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}

// Result is what a successful reconcile asks of the host.
type Result struct {
	// RequeueAfter, when positive, wakes the key again after this long even
	// without an event. It is rounded up to whole milliseconds.
	RequeueAfter time.Duration
}

// Reconciler reconciles one key at a time.
type Reconciler interface {
	// Reconcile brings the object named by req to its desired state. An
	// error fails the reconcile: the host retries it with exponential backoff
	// and shows the error in the WasmController's status.lastError. The
	// Result is ignored when the error is not nil, as in controller-runtime.
	Reconcile(ctx context.Context, req Request) (Result, error)
}

// ReconcilerFunc adapts a function to a Reconciler.
type ReconcilerFunc func(ctx context.Context, req Request) (Result, error)

// Reconcile calls f(ctx, req).
func (f ReconcilerFunc) Reconcile(ctx context.Context, req Request) (Result, error) {
	return f(ctx, req)
}

// PanicError is the error of a reconcile that panicked. The panic is
// recovered, so the instance stays usable; its stack is logged.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine's stack when it panicked.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("reconcile panicked: %v", e.Value)
}

// handle runs one reconcile from its JSON input. It returns the JSON result
// to pass to result_write, nil when there is nothing to report, and whether
// the reconcile succeeded.
func handle(input []byte) (result []byte, ok bool) {
	var in abi.Input
	if err := json.Unmarshal(input, &in); err != nil {
		return encodeResult(Result{}, fmt.Errorf("decoding reconcile input: %w", err)), false
	}
	if in.Controller != "" {
		controllerName.Store(&in.Controller)
	}
	res, err := run(Request{Namespace: in.Namespace, Name: in.Name, Reason: in.Reason})
	return encodeResult(res, err), err == nil
}

// controllerName is the WasmController the instance runs for, as the host
// gave it in the last reconcile's input.
var controllerName atomic.Pointer[string]

// ControllerName returns the "namespace/name" of the WasmController the
// guest runs for, from the first reconcile on; it is empty in init, in
// tests that call a Reconciler directly, and with a host that predates it.
//
// A module built with the SDK declares that its initialization does not
// need this name (docs/abi.md, "The module"), so that the instances of all
// its controllers in a namespace can start from one copy of the memory
// init leaves instead of running it again: os.Args is ["wasm-controller"]
// for every controller. Anything that depends on the controller's name is
// therefore made in Reconcile, not in init.
func ControllerName() string {
	if p := controllerName.Load(); p != nil {
		return *p
	}
	return ""
}

// run calls the selected Reconciler (see register.go), turning a panic into a *PanicError.
func run(req Request) (res Result, err error) {
	r, err := current()
	if err != nil {
		return Result{}, err
	}
	wakes.Add(1)
	defer runGoroutines()
	defer func() {
		if v := recover(); v != nil {
			perr := &PanicError{Value: v, Stack: stack()}
			Log(LevelError, fmt.Sprintf("%v key=%q\n%s", perr, req.String(), perr.Stack))
			res, err = Result{}, perr
		}
	}()
	// context.Background rather than a cancellable context: the host stops a
	// reconcile that runs too long by closing the instance, and a cancellable
	// context would add about 230 KB to every guest.
	return r.Reconcile(context.Background(), req)
}

// stack returns the calling goroutine's stack.
func stack() []byte {
	buf := make([]byte, 8<<10)
	for {
		n := runtime.Stack(buf, false)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// encodeResult renders the result of a reconcile, nil when it succeeded
// without asking for a requeue. An error message that would take the result
// over the ABI's 64 KiB limit is truncated.
func encodeResult(res Result, err error) []byte {
	var w abi.Result
	switch {
	case err != nil:
		w.Error = err.Error()
		if w.Error == "" {
			w.Error = fmt.Sprintf("reconcile failed with a %T that has no message", err)
		}
	case res.RequeueAfter > 0:
		w.RequeueAfterMillis = int64((res.RequeueAfter + time.Millisecond - 1) / time.Millisecond)
	default:
		return nil
	}
	for {
		b, merr := json.Marshal(w)
		if merr != nil {
			// Unreachable: the result holds only a string and a number.
			return []byte(`{"error":"encoding the reconcile result failed"}`)
		}
		if len(b) <= abi.MaxResultBytes {
			return b
		}
		w.Error = truncate(w.Error, len(w.Error)/2)
	}
}

// truncate cuts s to at most n bytes on a rune boundary and marks the cut.
func truncate(s string, n int) string {
	const mark = " ... (truncated)"
	s = strings.TrimSuffix(s, mark)
	if len(s) <= n {
		return s + mark
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}
