package sdk

import "testing"

func TestResource_Path(t *testing.T) {
	widgets := Resource{Group: "demo.wasm.io", Version: "v1", Resource: "widgets", Namespaced: true}
	tests := []struct {
		name        string
		r           Resource
		namespace   string
		objName     string
		subresource string
		want        string
	}{
		{name: "core object", r: ConfigMaps, namespace: "default", objName: "x", want: "/api/v1/namespaces/default/configmaps/x"},
		{name: "core collection", r: ConfigMaps, namespace: "default", want: "/api/v1/namespaces/default/configmaps"},
		{name: "core across namespaces", r: ConfigMaps, want: "/api/v1/configmaps"},
		{name: "cluster-scoped object", r: Namespaces, objName: "team-a", want: "/api/v1/namespaces/team-a"},
		{name: "cluster-scoped ignores namespace", r: Namespaces, namespace: "x", objName: "team-a", want: "/api/v1/namespaces/team-a"},
		{name: "named group", r: Deployments, namespace: "web", objName: "api", want: "/apis/apps/v1/namespaces/web/deployments/api"},
		{name: "status subresource", r: widgets, namespace: "d", objName: "w", subresource: "status", want: "/apis/demo.wasm.io/v1/namespaces/d/widgets/w/status"},
		{name: "subresource needs a name", r: widgets, namespace: "d", subresource: "status", want: "/apis/demo.wasm.io/v1/namespaces/d/widgets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Path(tt.namespace, tt.objName, tt.subresource); got != tt.want {
				t.Errorf("Path = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResource_APIVersion(t *testing.T) {
	if got := ConfigMaps.APIVersion(); got != "v1" {
		t.Errorf("core APIVersion = %q", got)
	}
	if got := Deployments.APIVersion(); got != "apps/v1" {
		t.Errorf("apps APIVersion = %q", got)
	}
}
