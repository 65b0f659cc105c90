// Command widget-controller is a wasm-apiserver controller for the Widget
// custom resource (demo.wasm.io/v1, see crd.yaml): it keeps a Widget's child
// ConfigMaps and reports its status. Its reconcile logic is the package
// widget, which the bundle example holds too.
package main

import (
	"github.com/wasm-apiserver/wasm-apiserver/examples/widget-controller/widget"
	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// init registers the controller. It parses no flags: a guest's settings
// come from spec.env.
func init() {
	sdk.Register(widget.New(sdk.DefaultClient))
}

func main() {}
