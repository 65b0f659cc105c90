// Package test holds the tests that drive wasm-apiserver through its real
// interfaces: the integration suite (the server in-process with its embedded
// etcd, driven by client-go and kubectl) and the e2e suite (a real
// kube-apiserver and etcd on loopback, through the aggregator).
package test
