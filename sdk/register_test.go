package sdk

import (
	"context"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// resetReconcilers forgets every registration and selection when the test
// ends, and before it starts.
func resetReconcilers(t *testing.T) {
	t.Helper()
	reset := func() {
		registered, named, selected, selectedName = nil, map[string]Reconciler{}, nil, ""
	}
	reset()
	t.Cleanup(reset)
}

// answering is a Reconciler that fails with its own name, so that a test
// sees which one ran.
func answering(name string) Reconciler {
	return ReconcilerFunc(func(context.Context, Request) (Result, error) {
		return Result{}, &namedError{name}
	})
}

type namedError struct{ name string }

func (e *namedError) Error() string { return "ran " + e.name }

func TestSelectReconciler(t *testing.T) {
	tests := []struct {
		name string
		// defaultToo registers a default reconciler besides "a" and "b".
		defaultToo bool
		// selections are the inputs of select_reconciler, in order; the
		// last one's answer is checked, then a reconcile.
		selections []string
		wantOK     bool
		wantResult string
		// wantRan is the reconciler a reconcile then runs, or the error
		// it fails with.
		wantRan string
	}{
		{name: "by name", selections: []string{`{"reconciler":"b"}`}, wantOK: true, wantRan: `{"error":"ran b"}`},
		{name: "the default", defaultToo: true, selections: []string{`{"reconciler":""}`}, wantOK: true, wantRan: `{"error":"ran default"}`},
		{name: "a name beside a default", defaultToo: true, selections: []string{`{"reconciler":"a"}`}, wantOK: true, wantRan: `{"error":"ran a"}`},
		{
			name: "unknown name", selections: []string{`{"reconciler":"c"}`},
			wantResult: `{"error":"the module has no reconciler named \"c\"; it has: a, b"}`,
			wantRan:    `{"error":"the module has no default reconciler; select one of its reconcilers (a, b) with spec.module.reconciler"}`,
		},
		{
			name: "unknown name beside a default", defaultToo: true, selections: []string{`{"reconciler":"c"}`},
			wantResult: `{"error":"the module has no reconciler named \"c\"; it has: a, b, the default (spec.module.reconciler left empty)"}`,
			wantRan:    `{"error":"ran default"}`,
		},
		{
			name: "no default", selections: []string{`{"reconciler":""}`},
			wantResult: `{"error":"the module has no default reconciler; select one of its reconcilers (a, b) with spec.module.reconciler"}`,
			wantRan:    `{"error":"the module has no default reconciler; select one of its reconcilers (a, b) with spec.module.reconciler"}`,
		},
		{name: "the same again", selections: []string{`{"reconciler":"a"}`, `{"reconciler":"a"}`}, wantOK: true, wantRan: `{"error":"ran a"}`},
		{
			name: "fixed for the instance", selections: []string{`{"reconciler":"a"}`, `{"reconciler":"b"}`},
			wantResult: `{"error":"this instance already runs reconciler \"a\"; it cannot switch to \"b\""}`,
			wantRan:    `{"error":"ran a"}`,
		},
		{
			name: "malformed", selections: []string{`{"reconciler":`},
			wantResult: `{"error":"decoding reconciler selection: unexpected end of JSON input"}`,
			wantRan:    `{"error":"the module has no default reconciler; select one of its reconcilers (a, b) with spec.module.reconciler"}`,
		},
		{name: "no selection runs the default", defaultToo: true, wantRan: `{"error":"ran default"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resetReconcilers(t)
			RegisterNamed("a", answering("a"))
			RegisterNamed("b", answering("b"))
			if tt.defaultToo {
				Register(answering("default"))
			}
			if len(tt.selections) > 0 {
				var result []byte
				var ok bool
				for _, s := range tt.selections {
					result, ok = selectReconciler([]byte(s))
				}
				if ok != tt.wantOK || string(result) != tt.wantResult {
					t.Errorf("selectReconciler = %s, %v; want %s, %v", result, ok, tt.wantResult, tt.wantOK)
				}
			}
			if result, _ := handle([]byte(`{"name":"x"}`)); string(result) != tt.wantRan {
				t.Errorf("a reconcile then = %s, want %s", result, tt.wantRan)
			}
		})
	}
}

// TestSelectReconciler_SingleReconcilerModule: a module built the way every
// module was before bundles, with Register alone, runs its reconciler when
// the default is selected and refuses any name.
func TestSelectReconciler_SingleReconcilerModule(t *testing.T) {
	resetReconcilers(t)
	Register(answering("only"))
	if result, ok := selectReconciler([]byte(`{"reconciler":"x"}`)); ok || string(result) != `{"error":"the module has no reconciler named \"x\"; it has: the default (spec.module.reconciler left empty)"}` {
		t.Errorf("selecting x = %s, %v", result, ok)
	}
	if result, ok := selectReconciler([]byte(`{"reconciler":""}`)); !ok || result != nil {
		t.Errorf("selecting the default = %s, %v", result, ok)
	}
}

func TestRegisterNamed_InvalidName(t *testing.T) {
	tests := []struct {
		name    string
		valid   bool
		subname string
	}{
		{name: "lowercase", subname: "ttl-cleaner", valid: true},
		{name: "digits", subname: "a1", valid: true},
		{name: "63 characters", subname: "a123456789012345678901234567890123456789012345678901234567890bc", valid: true},
		{name: "empty", subname: ""},
		{name: "64 characters", subname: "a123456789012345678901234567890123456789012345678901234567890bcd"},
		{name: "uppercase", subname: "Replicator"},
		{name: "leading dash", subname: "-a"},
		{name: "trailing dash", subname: "a-"},
		{name: "dot", subname: "a.b"},
		{name: "slash", subname: "a/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resetReconcilers(t)
			if abi.ValidReconcilerName(tt.subname) != tt.valid {
				t.Errorf("ValidReconcilerName(%q) = %v", tt.subname, !tt.valid)
			}
			defer func() {
				if p := recover(); (p == nil) != tt.valid {
					t.Errorf("RegisterNamed(%q) panicked with %v; want a panic: %v", tt.subname, p, !tt.valid)
				}
			}()
			RegisterNamed(tt.subname, answering(tt.subname))
		})
	}
}
