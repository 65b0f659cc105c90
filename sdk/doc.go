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
//   - One module may hold several reconcilers, a bundle: RegisterNamed adds
//     each under a name, and each WasmController selects one with
//     spec.module.reconciler (docs/sdk.md, "Bundles").
//   - The host serves API requests only while a reconcile runs; a Client used
//     from init fails with EINVAL.
//   - Package variables live as long as the instance, across reconciles, but
//     the host may discard an instance (after a trap, a timeout, or to save
//     memory) and start a fresh one: use them as caches, never as state.
//   - The package avoids net/http, net/url and client-go to keep guests small:
//     the examples built on it alone are about 3.7 MB of WebAssembly, 1 MB gzipped.
//     Package sdk/transport provides an http.RoundTripper for guests that want
//     client-go anyway, at 33 to 56 MB (docs/porting.md says why and how to
//     stay at the lower end); the module sdk/controllerruntime runs
//     controller-runtime Reconcilers on it, at about 60 MB.
//   - The reconcile context is context.Background: the host stops a reconcile
//     that runs past spec.limits.reconcileTimeout by closing the instance.
//   - Outside GOOS=wasip1 the package builds with a host API that fails every
//     request, so controller logic can be unit-tested with NewClientFor and a
//     fake API.
//   - A guest's os.Args is ["wasm-controller"] whichever WasmController runs
//     it: the SDK tells the host that init does not depend on it, so that
//     the instances of all the module's WasmControllers in a namespace can
//     start from one copy of the memory init left. ControllerName gives the
//     WasmController's "namespace/name" during a reconcile.
//   - init also runs in `go test` of the package: parse no command line there
//     (flag.Parse fails on the test binary's flags). ParseFlags reads a
//     guest's flags from its environment instead.
//   - No goroutine runs between reconciles. Before a reconcile returns the
//     SDK yields to the guest's other goroutines, so work handed to them
//     (client-go's event broadcaster) is done within it unless it waits on a
//     timer. EventRecorder records Events without goroutines.
//
// # Module and ABI version
//
// The SDK is the module github.com/wasm-apiserver/wasm-apiserver/sdk, which
// depends on nothing but the standard library: a controller built on it pulls
// in none of the server's dependencies. Its releases are tagged sdk/vX.Y.Z in
// the wasm-apiserver repository, so a controller's go.mod requires
//
//	require github.com/wasm-apiserver/wasm-apiserver/sdk vX.Y.Z
//
// This version of the SDK speaks guest ABI version 1 (abi.Version): it exports
// wasm_apiserver_abi_v1, which every server that supports ABI version 1 runs.
//
// docs/sdk.md says more about init, tests, logging, Events and goroutines.
package sdk
