// Command bundle is a test guest holding two reconcilers by name and no
// default one, as a bundle of controllers does: "configmaps" GETs the
// ConfigMap of the key, "secrets" the Secret, and each fails when the GET
// does. A count of the reconciles the instance ran is logged with each, so
// that tests can tell a resumed instance from a fresh one.
package main

import (
	"context"
	"fmt"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// reconciles counts the reconciles this instance ran.
var reconciles int

func init() {
	sdk.RegisterNamed("configmaps", getter("configmaps", sdk.ConfigMaps))
	sdk.RegisterNamed("secrets", getter("secrets", sdk.Secrets))
}

func main() {}

// getter returns a reconciler, called name, that GETs the key's object of
// resource.
func getter(name string, resource sdk.Resource) sdk.Reconciler {
	return sdk.ReconcilerFunc(func(ctx context.Context, req sdk.Request) (sdk.Result, error) {
		reconciles++
		sdk.Info("bundle reconcile", "reconciler", name, "count", reconciles, "key", req.String())
		if _, err := sdk.DefaultClient.Get(ctx, resource, req.Namespace, req.Name); err != nil {
			return sdk.Result{}, fmt.Errorf("%s: %w", name, err)
		}
		return sdk.Result{}, nil
	})
}
