// Package transport is an http.RoundTripper that sends HTTP requests to the
// Kubernetes API through the wasm-apiserver host, for guests that use
// client-go or another HTTP-based client instead of the light sdk.Client.
//
// With it, a client-go clientset works inside a guest:
//
//	cfg := &rest.Config{
//		Host:          "http://wasm-apiserver",
//		ContentConfig: rest.ContentConfig{ContentType: "application/json"},
//		Transport:     transport.New(),
//	}
//	clientset, err := kubernetes.NewForConfig(cfg)
//
// The host name is a placeholder: the host decides where requests go and as
// whom. Request bodies must be JSON, so set the content type to
// "application/json"; without it client-go's typed clients may send
// protobuf, which RoundTrip refuses. Watches are refused by the host: it
// watches for the guest and wakes it.
//
// # Notes
//
// client-go is expensive in a guest. A guest with a typed clientset is about
// 56 MB of WebAssembly, needs about 24 MiB of linear memory, and costs about
// 300 MiB of compiled code per distinct module on the host, against 3.7 MB
// and about 20 MiB of compiled code for a guest that uses only package sdk.
// Most of it is client-go's scheme of every built-in API group: typed
// clients built on a scheme of only the types a controller uses make it
// about 33 MB (docs/porting.md). Prefer sdk.Client where it is enough. This
// package alone pulls in net/http, which makes a guest about 11 MB.
package transport
