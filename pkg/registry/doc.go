// Package registry stores the API objects of wasm-apiserver in etcd through
// k8s.io/apiserver's generic registry; each resource has a package below it.
package registry
