// Package proxy is the only place that talks to the target cluster for
// guests: it runs the shared informers every WasmController's watches are
// served from, answers guest reads from their caches, and passes guest writes
// to the API server as the controller's ServiceAccount.
package proxy
