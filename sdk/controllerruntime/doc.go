// Package controllerruntime runs a Reconciler written with
// sigs.k8s.io/controller-runtime (as kubebuilder and operator-sdk scaffold
// them) as a wasm-apiserver guest.
//
// The Reconciler and its client.Client calls stay as they are; what the
// manager did is replaced by two calls from init, since a c-shared module
// never runs main:
//
//	func init() {
//		scheme := runtime.NewScheme()
//		utilruntime.Must(clientgoscheme.AddToScheme(scheme))
//		utilruntime.Must(cachev1alpha1.AddToScheme(scheme))
//		c, err := controllerruntime.NewClient(scheme)
//		if err != nil {
//			panic(err)
//		}
//		controllerruntime.Register(&controller.MemcachedReconciler{Client: c, Scheme: scheme})
//	}
//
//	func main() {}
//
// NewClient is controller-runtime's own client (client.New) over a
// rest.Config whose transport is package sdk/transport: Get, List, Create,
// Update, Patch, Apply (server-side apply), Delete, DeleteAllOf, Status()
// and SubResource() behave as controller-runtime documents them, on the
// typed objects of the scheme. Reads are answered by the host from its
// informer caches of the resources the WasmController watches (a read of
// anything else is a 403 naming the missing watch), so they cost the API
// server nothing, as reads from a manager's cache do. Writes go to the API
// server as the WasmController's ServiceAccount.
//
// What SetupWithManager said (For, Owns, Watches) is said by the
// WasmController's spec.watches: For is a watch of the kind, Owns a watch
// of the owned kind with enqueueOwner naming the owner's kind, and
// predicates are wakeWhen rules.
//
// # Notes
//
//   - The host serves no discovery, so the client's RESTMapper is built from
//     the scheme (NewRESTMapper): register every kind the Reconciler reads
//     or writes, and name the cluster-scoped kinds of custom resources.
//   - Reads lag the API server by the time a watch event takes to arrive,
//     as a manager's cached client does: a conflict on an update of a stale
//     object fails the reconcile, which the host retries.
//   - Size: a controller-runtime guest is about 58 MB of WebAssembly, 10.5 MB
//     gzipped (61 MB and 11 MB when it also imports the root package
//     sigs.k8s.io/controller-runtime for ctrl.Result and the manager's
//     SetupWithManager), so it is published in an OCI registry or behind an
//     HTTPS URL, not in a ConfigMap. controller-runtime's client package
//     alone brings in every typed client of client-go. See
//     docs/sdk.md for the figures and why the SDK uses controller-runtime
//     itself rather than a smaller look-alike client.
//   - This is a module of its own, so that the sdk module stays free of
//     dependencies; it requires the controller-runtime and k8s.io versions
//     controller-runtime itself requires, and nothing else.
package controllerruntime
