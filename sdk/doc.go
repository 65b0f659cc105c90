// Package sdk is the Go SDK for controllers run by wasm-apiserver.
//
// A controller is a WebAssembly module built from a main package with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o controller.wasm .
//
// It registers its Reconciler from an init function and the SDK does the rest:
// it exports the entry points of the guest ABI (docs/abi.md), decodes each
// reconcile request, calls the Reconciler and reports its Result or error to
// the host.
//
//	func init() {
//		sdk.Register(sdk.ReconcilerFunc(reconcile))
//	}
//
//	func reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
//		cm, err := sdk.DefaultClient.Get(ctx, sdk.ConfigMaps, req.Namespace, req.Name)
//		if sdk.IsNotFound(err) {
//			return sdk.Result{}, nil
//		}
//		...
//	}
//
//	func main() {}
//
// The Client talks to the Kubernetes API through the host: reads are served to
// the controller's ServiceAccount and writes are made as it. It works on
// *Object, a map-backed object in the manner of client-go's Unstructured, and
// on any struct with JSON tags through Object.Into and ObjectFrom.
//
// # Notes
//
//   - A c-shared module never runs main: only package initialization runs, when
//     the host calls _initialize. Register must therefore be called from init.
//   - The package avoids net/http and client-go to keep guests small (about
//     3.3 MB of WebAssembly). Package sdk/transport provides an
//     http.RoundTripper for guests that want client-go anyway.
//   - Outside GOOS=wasip1 the package builds with a host API that fails every
//     request, so controller logic can be unit-tested with NewClientFor and a
//     fake API.
package sdk
