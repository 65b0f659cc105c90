// Command klog is a test guest that logs with klog and is set up the way
// package sdk documents for guests ported from native controllers: its
// flags are its own FlagSet, parsed by sdk.ParseFlags from spec.env rather
// than from the command line in init, so `go test` of the package works.
//
// Each reconcile logs one klog line at each severity (info, warning, error)
// and hands its key to a goroutine, which logs it through the SDK: the host
// must see that line before the reconcile returns, as it runs no goroutine
// between reconciles.
package main

import (
	"context"
	"errors"
	"flag"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// relay hands each key to a goroutine calling relayed.
type relay struct {
	keys chan string
}

func newRelay(relayed func(key string)) *relay {
	r := &relay{keys: make(chan string, 16)}
	go func() {
		for k := range r.keys {
			relayed(k)
		}
	}()
	return r
}

func logRelayed(key string) {
	sdk.Info("relayed by a goroutine", "key", key)
}

func init() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := sdk.ParseFlags(fs); err != nil {
		panic(err)
	}
	sdk.Register(newRelay(logRelayed))
}

func main() {}

// Reconcile implements sdk.Reconciler.
func (r *relay) Reconcile(_ context.Context, req sdk.Request) (sdk.Result, error) {
	klog.InfoS("Reconciling", "key", req.String())
	klog.V(2).InfoS("Reconciling verbosely", "key", req.String())
	klog.Warningf("key %s is a test", req.String())
	klog.ErrorS(errors.New("boom"), "Reconcile step failed", "key", req.String())
	r.keys <- req.String()
	return sdk.Result{}, nil
}
