package main

import (
	"flag"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// TestReconcile runs the guest's init and reconcile natively: `go test` of a
// guest package works when init parses no command line.
func TestReconcile(t *testing.T) {
	if !flag.Parsed() {
		t.Fatal("the test's own flags were not parsed")
	}
	relayed := make(chan string, 1)
	r := newRelay(func(key string) { relayed <- key })
	defer close(r.keys)
	if _, err := r.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := <-relayed; got != "d/x" {
		t.Errorf("relayed %q", got)
	}
}
