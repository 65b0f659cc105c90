package proxy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestParseAPIPath(t *testing.T) {
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	tests := []struct {
		path   string
		want   apiPath
		wantOK bool
	}{
		{path: "/api/v1/configmaps", want: apiPath{Resource: cm}, wantOK: true},
		{path: "/api/v1/namespaces/ns/configmaps", want: apiPath{Resource: cm, Namespace: "ns"}, wantOK: true},
		{path: "/api/v1/namespaces/ns/configmaps/x", want: apiPath{Resource: cm, Namespace: "ns", Name: "x"}, wantOK: true},
		{path: "/api/v1/namespaces/ns", want: apiPath{Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, Name: "ns"}, wantOK: true},
		{path: "/api/v1/namespaces", want: apiPath{Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}}, wantOK: true},
		{path: "/apis/apps/v1/namespaces/ns/deployments/d/status", want: apiPath{
			Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Namespace: "ns", Name: "d", Subresource: "status"}, wantOK: true},
		{path: "/apis/demo.wasm.io/v1/widgets", want: apiPath{Resource: schema.GroupVersionResource{Group: "demo.wasm.io", Version: "v1", Resource: "widgets"}}, wantOK: true},
		{path: "/api/v1/namespaces/ns/status", want: apiPath{Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, Name: "ns", Subresource: "status"}, wantOK: true},
		{path: "/api/v1/namespaces/ns/finalize", want: apiPath{Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, Name: "ns", Subresource: "finalize"}, wantOK: true},
		{path: "/api/v1/namespaces/ns/configmaps/x/y/z"},
		{path: "/api/v1//configmaps"},
		{path: "/metrics"},
		{path: "/apis/apps"},
	}
	for _, tt := range tests {
		got, ok := parseAPIPath(tt.path)
		if ok != tt.wantOK || (ok && !cmp.Equal(got, tt.want)) {
			t.Errorf("parseAPIPath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.wantOK)
		}
	}
}
