package controllerruntime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

func TestReconciler_Result(t *testing.T) {
	failed := errors.New("deployment default/cache: conflict")
	tests := []struct {
		name    string
		res     reconcile.Result
		err     error
		want    sdk.Result
		wantErr error
	}{
		{name: "done", want: sdk.Result{}},
		{name: "requeue after", res: reconcile.Result{RequeueAfter: time.Minute}, want: sdk.Result{RequeueAfter: time.Minute}},
		{name: "requeue", res: reconcile.Result{Requeue: true}, want: sdk.Result{RequeueAfter: RequeueBaseDelay}},
		{name: "requeue and requeue after", res: reconcile.Result{Requeue: true, RequeueAfter: time.Second},
			want: sdk.Result{RequeueAfter: time.Second}},
		{name: "error ignores the result", res: reconcile.Result{RequeueAfter: time.Minute}, err: failed, wantErr: failed},
		{name: "terminal error is not retried", res: reconcile.Result{RequeueAfter: time.Minute},
			err: reconcile.TerminalError(failed), want: sdk.Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReconciler(reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
				return tt.res, tt.err
			}))
			got, err := r.Reconcile(t.Context(), sdk.Request{Namespace: "default", Name: "cache"})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReconciler_Request(t *testing.T) {
	var got reconcile.Request
	var logger logr.Logger
	r := NewReconciler(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		got, logger = req, log.FromContext(ctx)
		return reconcile.Result{}, nil
	}))
	if _, err := r.Reconcile(t.Context(), sdk.Request{Namespace: "team-a", Name: "cache", Reason: sdk.ReasonEvent}); err != nil {
		t.Fatal(err)
	}
	if want := (types.NamespacedName{Namespace: "team-a", Name: "cache"}); got.NamespacedName != want {
		t.Errorf("request = %v, want %v", got, want)
	}
	s, ok := logger.GetSink().(*sink)
	if !ok {
		t.Fatalf("log.FromContext gives a %T, want the host's logger", logger.GetSink())
	}
	if want := []any{"namespace", "team-a", "name", "cache", "reason", "event"}; !equal(s.values, want) {
		t.Errorf("logger values = %v, want %v", s.values, want)
	}
}

// TestReconciler_RequeueBackoff: Requeue without RequeueAfter backs off
// exponentially per key, up to RequeueMaxDelay, and starts over once the
// key stops asking.
func TestReconciler_RequeueBackoff(t *testing.T) {
	requeue := map[string]bool{"a": true, "b": true}
	r := NewReconciler(reconcile.Func(func(_ context.Context, req reconcile.Request) (reconcile.Result, error) {
		return reconcile.Result{Requeue: requeue[req.Name]}, nil
	}))
	wake := func(name string) time.Duration {
		res, err := r.Reconcile(t.Context(), sdk.Request{Namespace: "default", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return res.RequeueAfter
	}
	for i, want := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
		if got := wake("a"); got != want {
			t.Errorf("requeue %d of a after %v, want %v", i, got, want)
		}
	}
	if got := wake("b"); got != RequeueBaseDelay {
		t.Errorf("first requeue of b after %v, want %v: keys back off separately", got, RequeueBaseDelay)
	}
	for range 30 {
		wake("a")
	}
	if got := wake("a"); got != RequeueMaxDelay {
		t.Errorf("requeue after %v, want at most %v", got, RequeueMaxDelay)
	}
	requeue["a"] = false
	if got := wake("a"); got != 0 {
		t.Errorf("done, yet requeued after %v", got)
	}
	requeue["a"] = true
	if got := wake("a"); got != RequeueBaseDelay {
		t.Errorf("requeue after a success after %v, want %v", got, RequeueBaseDelay)
	}
}

func equal(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
