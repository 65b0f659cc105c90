// Package transport is an http.RoundTripper that sends HTTP requests to the
// Kubernetes API through the wasm-apiserver host, for guests that use
// client-go or another HTTP-based client instead of the light sdk.Client.
//
// With it, a client-go clientset works inside a guest:
//
//	cfg := &rest.Config{
//		Host:        "http://wasm-apiserver",
//		ContentType: "application/json",
//		Transport:   transport.New(),
//	}
//	clientset, err := kubernetes.NewForConfig(cfg)
//
// The host name is a placeholder: the host decides where requests go and as
// whom. Request bodies must be JSON, so set ContentType to
// "application/json"; without it client-go's typed clients may send
// protobuf, which RoundTrip refuses. Watches are refused by the host: it
// watches for the guest and wakes it.
//
// # Notes
//
// client-go is expensive in a guest. A guest with a typed clientset is about
// 56 MB of WebAssembly and about 400 MiB of compiled code per distinct module
// on the host, against 3.3 MB and about 19 MiB for a guest that uses only
// package sdk. Prefer sdk.Client where it is enough. Importing this package
// also pulls in net/http, which adds several megabytes on its own.
package transport
