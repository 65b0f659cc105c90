// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers
// +k8s:defaulter-gen=TypeMeta
// +k8s:openapi-gen=true
// +k8s:openapi-model-package=io.wasm.controllers.v1alpha1
// +groupName=controllers.wasm.io

// Package v1alpha1 is version v1alpha1 of the controllers.wasm.io API group.
package v1alpha1
