// Command wasm-apiserver is a Kubernetes aggregated API server that hosts
// controllers compiled to WebAssembly.
package main

import (
	"os"

	// The Mozilla CA roots, used only where the system has none, such as the
	// server's image (an empty base): modules from HTTPS URLs and OCI
	// registries are fetched over TLS.
	_ "golang.org/x/crypto/x509roots/fallback"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/cmd/server"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	os.Exit(cli.Run(server.NewCommand(ctx)))
}
