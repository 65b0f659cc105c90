// Command sample-controller is kubernetes/sample-controller's controller
// ported to wasm-apiserver: for each Foo (samplecontroller.k8s.io/v1alpha1,
// see crd.yaml) it keeps a Deployment named by spec.deploymentName,
// controlled by the Foo, with spec.replicas replicas, and writes the
// Deployment's available replicas into status.availableReplicas. It records
// a Synced Event on the Foo after each sync, and an ErrResourceExists
// warning when the Deployment exists and is not the Foo's.
//
// The sync logic is the original's (controller.go); client-go's typed
// clients reach the API through sdk/transport. README.md maps each part of
// the original to the port.
package main

import (
	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/transport"
)

// init builds the clients and registers the controller. A guest has no
// command line and init also runs in `go test`: it parses no flags.
func init() {
	c, err := newController(sdk.DefaultClient, transport.New())
	if err != nil {
		panic(err) // fails the load; the message is in the server's log
	}
	sdk.Register(c)
}

func main() {}
