package controllerruntime

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

func TestNewRESTMapper(t *testing.T) {
	widget := schema.GroupVersionKind{Group: "demo.wasm.io", Version: "v1", Kind: "Widget"}
	gadget := schema.GroupVersionKind{Group: "demo.wasm.io", Version: "v1", Kind: "Gadget"}
	tests := []struct {
		gvk          schema.GroupVersionKind
		wantResource string
		wantScope    meta.RESTScopeName
		wantErr      bool
	}{
		{gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, wantResource: "deployments", wantScope: meta.RESTScopeNameNamespace},
		{gvk: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, wantResource: "configmaps", wantScope: meta.RESTScopeNameNamespace},
		{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Endpoints"}, wantResource: "endpoints", wantScope: meta.RESTScopeNameNamespace},
		{gvk: schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, wantResource: "ingresses", wantScope: meta.RESTScopeNameNamespace},
		{gvk: schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, wantResource: "networkpolicies", wantScope: meta.RESTScopeNameNamespace},
		{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, wantResource: "namespaces", wantScope: meta.RESTScopeNameRoot},
		{gvk: schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, wantResource: "clusterroles", wantScope: meta.RESTScopeNameRoot},
		{gvk: schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}, wantResource: "storageclasses", wantScope: meta.RESTScopeNameRoot},
		{gvk: widget, wantResource: "widgets", wantScope: meta.RESTScopeNameNamespace},
		{gvk: gadget, wantResource: "gadgets", wantScope: meta.RESTScopeNameRoot},
		// Not resources: lists, options, the scheme's unknown kinds.
		{gvk: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMapList"}, wantErr: true},
		{gvk: schema.GroupVersionKind{Version: "v1", Kind: "ListOptions"}, wantErr: true},
		{gvk: schema.GroupVersionKind{Group: "demo.wasm.io", Version: "v1", Kind: "Unknown"}, wantErr: true},
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	scheme.AddKnownTypeWithName(widget, &testObject{})
	scheme.AddKnownTypeWithName(gadget, &testObject{})
	mapper := NewRESTMapper(scheme, gadget.GroupKind())
	for _, tt := range tests {
		t.Run(tt.gvk.Kind, func(t *testing.T) {
			m, err := mapper.RESTMapping(tt.gvk.GroupKind(), tt.gvk.Version)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("mapped to %v, want an error", m.Resource)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Resource.Resource != tt.wantResource || m.Scope.Name() != tt.wantScope {
				t.Errorf("mapped to %s %s, want %s %s", m.Resource.Resource, m.Scope.Name(), tt.wantResource, tt.wantScope)
			}
		})
	}
}

// testObject is a kind with object metadata, registered under test kinds.
type testObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
}

func (o *testObject) DeepCopyObject() runtime.Object {
	c := *o
	o.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}
