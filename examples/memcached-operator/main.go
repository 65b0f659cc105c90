// Command memcached-operator is the kubebuilder-style Memcached operator
// (internal/controller, unchanged) run as a wasm-apiserver guest. This file
// replaces the manager's main (cmd/manager/main.go): the scheme is built
// the same way, the Reconciler gets a client whose requests go through the
// host, and it is registered instead of set up with a manager. What the
// manager's SetupWithManager watches, the WasmController's watches say
// (wasmcontroller.yaml).
package main

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	cachev1alpha1 "github.com/wasm-apiserver/wasm-apiserver/examples/memcached-operator/api/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/examples/memcached-operator/internal/controller"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/controllerruntime"
)

func init() {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cachev1alpha1.AddToScheme(scheme))

	c, err := controllerruntime.NewClient(scheme)
	if err != nil {
		panic(err) // fails the load; the message is in the server's log
	}
	controllerruntime.Register(&controller.MemcachedReconciler{Client: c, Scheme: scheme})
}

func main() {}
