// Command echo is a test guest for the host runtime. Each reconcile makes one
// GET of the ConfigMap (or, with ECHO_RESOURCE=secrets, the Secret) named by the key
// (or, with ECHO_LIST_SELECTOR, a LIST of its namespace with that label selector) and fails with the response status
// when it is not 200; a key named "requeue" asks to be requeued after 1234 ms.
// A counter that lives as long as the instance is logged with each reconcile,
// so tests can tell a resumed instance from a fresh one.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// reconciles counts the reconciles this instance ran.
var reconciles int

func init() {
	sdk.Register(sdk.ReconcilerFunc(reconcile))
}

func reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	reconciles++
	sdk.Info("echo reconcile", "count", reconciles, "key", req.String(), "reason", req.Reason)
	resource := sdk.ConfigMaps
	if os.Getenv("ECHO_RESOURCE") == "secrets" {
		resource = sdk.Secrets
	}
	path := resource.Path(req.Namespace, req.Name, "")
	if sel := os.Getenv("ECHO_LIST_SELECTOR"); sel != "" {
		// LIST the key's namespace with a label selector instead of a GET.
		path = resource.Path(req.Namespace, "", "")
		_, err := sdk.DefaultClient.List(ctx, resource, req.Namespace, sdk.LabelSelector(sel))
		if se, ok := errors.AsType[*sdk.StatusError](err); ok {
			return sdk.Result{}, fmt.Errorf("LIST %s: status %d %s", path, se.Code, se.Reason)
		}
		return sdk.Result{}, err
	}
	if _, err := sdk.DefaultClient.Get(ctx, resource, req.Namespace, req.Name); err != nil {
		if se, ok := errors.AsType[*sdk.StatusError](err); ok {
			return sdk.Result{}, fmt.Errorf("GET %s: status %d %s", path, se.Code, se.Reason)
		}
		return sdk.Result{}, err
	}
	if req.Name == "requeue" {
		return sdk.Result{RequeueAfter: 1234 * time.Millisecond}, nil
	}
	return sdk.Result{}, nil
}

func main() {}
