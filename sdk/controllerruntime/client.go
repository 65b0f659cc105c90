package controllerruntime

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/transport"
)

// hostURL is the API server's address in the rest.Config of a guest. It is
// a placeholder: the host decides where requests go.
const hostURL = "http://wasm-apiserver"

// RESTConfig returns a rest.Config whose requests go through the host, for
// client-go clients built beside the controller-runtime client.
func RESTConfig() *rest.Config {
	return RESTConfigFor(sdk.HostAPI)
}

// RESTConfigFor returns a rest.Config whose requests go through api; tests
// pass an in-memory API such as sdktest.Cluster.
//
// Bodies are JSON, the only encoding the host takes, and there is no
// client-side rate limit (QPS -1): the host limits a guest's requests, and
// client-go's default of 5 a second would have a guest sleep through its
// reconcile.
func RESTConfigFor(api sdk.API) *rest.Config {
	return &rest.Config{
		Host:          hostURL,
		ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeJSON},
		Transport:     transport.NewFor(api),
		QPS:           -1,
	}
}

// NewClient returns controller-runtime's own client.Client for the typed
// objects of scheme, sending its requests through the host: Get and List
// are answered from the host's cache of the resources the WasmController
// watches, writes are made as the controller's ServiceAccount. Its
// RESTMapper is NewRESTMapper(scheme, clusterScoped...).
//
// Call it from init and keep the client: building it costs a scheme walk,
// and it holds no connection.
//
// # Errors
//
// When controller-runtime refuses the configuration.
func NewClient(scheme *runtime.Scheme, clusterScoped ...schema.GroupKind) (client.Client, error) {
	return NewClientFor(sdk.HostAPI, scheme, clusterScoped...)
}

// NewClientFor is NewClient over api; tests pass an in-memory API such as
// sdktest.Cluster, so that a Reconciler runs through the real client.
func NewClientFor(api sdk.API, scheme *runtime.Scheme, clusterScoped ...schema.GroupKind) (client.Client, error) {
	c, err := client.New(RESTConfigFor(api), client.Options{
		Scheme: scheme,
		Mapper: NewRESTMapper(scheme, clusterScoped...),
	})
	if err != nil {
		return nil, fmt.Errorf("controller-runtime client: %w", err)
	}
	return c, nil
}
