// +k8s:deepcopy-gen=package
// +groupName=controllers.wasm.io

// Package controllers holds the internal types of the controllers.wasm.io API group.
package controllers
