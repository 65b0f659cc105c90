package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// emptyError is an error without a message.
type emptyError struct{}

func (emptyError) Error() string { return "" }

func TestEncodeResult(t *testing.T) {
	tests := []struct {
		name string
		res  Result
		err  error
		want string
	}{
		{name: "success", want: ""},
		{name: "requeue", res: Result{RequeueAfter: 30 * time.Second}, want: `{"requeueAfterMillis":30000}`},
		{name: "requeue rounds up", res: Result{RequeueAfter: 1500 * time.Microsecond}, want: `{"requeueAfterMillis":2}`},
		{name: "sub-millisecond requeue is kept", res: Result{RequeueAfter: time.Nanosecond}, want: `{"requeueAfterMillis":1}`},
		{name: "negative requeue", res: Result{RequeueAfter: -time.Second}, want: ""},
		{name: "error", err: errors.New(`configmap default/x: "conflict"`), want: `{"error":"configmap default/x: \"conflict\""}`},
		{name: "error ignores requeue", res: Result{RequeueAfter: time.Second}, err: errors.New("boom"), want: `{"error":"boom"}`},
		{name: "empty error message", err: emptyError{}, want: `{"error":"reconcile failed with a sdk.emptyError that has no message"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(encodeResult(tt.res, tt.err)); got != tt.want {
				t.Errorf("encodeResult = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEncodeResult_Truncates(t *testing.T) {
	tests := []struct {
		name string
		msg  string
	}{
		{name: "plain", msg: strings.Repeat("x", 200<<10)},
		{name: "escaped", msg: strings.Repeat("\x01", 50<<10)},
		{name: "multibyte", msg: strings.Repeat("é", 100<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeResult(Result{}, errors.New(tt.msg))
			if len(b) > abi.MaxResultBytes {
				t.Fatalf("result is %d bytes, over the %d limit", len(b), abi.MaxResultBytes)
			}
			var w abi.Result
			if err := json.Unmarshal(b, &w); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(w.Error, "(truncated)") || !strings.HasPrefix(tt.msg, strings.TrimSuffix(w.Error, " ... (truncated)")) {
				t.Errorf("error = %.40q...%q", w.Error, w.Error[len(w.Error)-20:])
			}
		})
	}
}

func TestHandle(t *testing.T) {
	var gotReq Request
	var gotCtx context.Context
	tests := []struct {
		name       string
		reconciler Reconciler
		input      string
		wantOK     bool
		wantResult string
	}{
		{
			name: "success",
			reconciler: ReconcilerFunc(func(ctx context.Context, req Request) (Result, error) {
				gotReq, gotCtx = req, ctx
				return Result{}, nil
			}),
			input:  `{"namespace":"default","name":"x","reason":"event"}`,
			wantOK: true,
		},
		{
			name: "requeue",
			reconciler: ReconcilerFunc(func(context.Context, Request) (Result, error) {
				return Result{RequeueAfter: 1234 * time.Millisecond}, nil
			}),
			input:      `{"namespace":"default","name":"x","reason":"event"}`,
			wantOK:     true,
			wantResult: `{"requeueAfterMillis":1234}`,
		},
		{
			name: "error",
			reconciler: ReconcilerFunc(func(context.Context, Request) (Result, error) {
				return Result{}, errors.New("no luck")
			}),
			input:      `{"name":"x"}`,
			wantResult: `{"error":"no luck"}`,
		},
		{
			name: "panic is recovered",
			reconciler: ReconcilerFunc(func(context.Context, Request) (Result, error) {
				var m map[string]int
				m["x"] = 1
				return Result{}, nil
			}),
			input:      `{"name":"x"}`,
			wantResult: `{"error":"reconcile panicked: assignment to entry in nil map"}`,
		},
		{
			name: "panic with a value",
			reconciler: ReconcilerFunc(func(context.Context, Request) (Result, error) {
				panic("on purpose")
			}),
			input:      `{"name":"x"}`,
			wantResult: `{"error":"reconcile panicked: on purpose"}`,
		},
		{
			name:       "no reconciler",
			input:      `{"name":"x"}`,
			wantResult: `{"error":"no reconciler registered: call sdk.Register from an init function"}`,
		},
		{
			name:       "malformed input",
			reconciler: ReconcilerFunc(func(context.Context, Request) (Result, error) { return Result{}, nil }),
			input:      `{"name":`,
			wantResult: `{"error":"decoding reconcile input: unexpected end of JSON input"}`,
		},
		{
			name:       "unknown input fields are ignored",
			reconciler: ReconcilerFunc(func(context.Context, Request) (Result, error) { return Result{}, nil }),
			input:      `{"name":"x","attempt":3}`,
			wantOK:     true,
		},
	}
	var logged []string
	logTo = func(_ Level, msg string) { logged = append(logged, msg) }
	t.Cleanup(func() { logTo = hostLog; registered = nil })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Register(tt.reconciler)
			result, ok := handle([]byte(tt.input))
			if ok != tt.wantOK || string(result) != tt.wantResult {
				t.Errorf("handle = %s, %v; want %s, %v", result, ok, tt.wantResult, tt.wantOK)
			}
		})
	}
	if gotReq != (Request{Namespace: "default", Name: "x", Reason: ReasonEvent}) {
		t.Errorf("request = %+v", gotReq)
	}
	if gotCtx == nil {
		t.Errorf("the reconcile got no context")
	}
	if len(logged) != 2 || !strings.Contains(logged[0], "assignment to entry in nil map") || !strings.Contains(logged[0], "goroutine") {
		t.Errorf("panics logged %q, want two with their stacks", logged)
	}
}

// TestControllerName: the reconcile sees the controller the host names in
// its input; an input without one (from a host that predates it) keeps
// what an earlier one said.
func TestControllerName(t *testing.T) {
	t.Cleanup(func() { registered = nil; controllerName.Store(nil) })
	var seen []string
	Register(ReconcilerFunc(func(context.Context, Request) (Result, error) {
		seen = append(seen, ControllerName())
		return Result{}, nil
	}))
	if got := ControllerName(); got != "" {
		t.Fatalf("ControllerName() before any reconcile = %q, want empty", got)
	}
	for _, input := range []string{
		`{"namespace":"default","name":"x","reason":"event"}`,
		`{"namespace":"default","name":"x","reason":"event","controller":"team-a/replicator"}`,
		`{"namespace":"default","name":"x","reason":"event"}`,
	} {
		if _, ok := handle([]byte(input)); !ok {
			t.Fatalf("handle(%s) failed", input)
		}
	}
	if want := []string{"", "team-a/replicator", "team-a/replicator"}; !slices.Equal(seen, want) {
		t.Errorf("ControllerName() in the reconciles = %q, want %q", seen, want)
	}
}

func TestRequest_String(t *testing.T) {
	if got := (Request{Namespace: "a", Name: "b"}).String(); got != "a/b" {
		t.Errorf("namespaced key = %q", got)
	}
	if got := (Request{Name: "b"}).String(); got != "b" {
		t.Errorf("cluster-scoped key = %q", got)
	}
}
