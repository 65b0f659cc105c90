package replicator

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/sdktest"
)

func namespace(name string, target bool) *sdk.Object {
	ns := sdk.NewObject("v1", "Namespace", "", name)
	if target {
		ns.SetLabels(map[string]string{targetLabel: "true"})
	}
	return ns
}

func configMap(ns, name string, labels, data map[string]string) *sdk.Object {
	cm := sdk.NewObject("v1", "ConfigMap", ns, name)
	cm.SetLabels(labels)
	if data != nil {
		_ = cm.SetNestedField(data, "data")
	}
	return cm
}

func source(ns, name string, data map[string]string) *sdk.Object {
	return configMap(ns, name, map[string]string{sourceLabel: "true"}, data)
}

func copyOf(ns, srcNS, name string, data map[string]string) *sdk.Object {
	return configMap(ns, name, map[string]string{copyLabel: srcNS + "." + name}, data)
}

// copies returns the copies in the cluster as "namespace/name=data".
func copies(c *sdktest.Cluster) []string {
	var out []string
	for _, cm := range c.List(sdk.ConfigMaps, "") {
		if _, ok := cm.GetLabels()[copyLabel]; !ok {
			continue
		}
		data, _ := cm.NestedStringMap("data")
		var kv []string
		for k, v := range data {
			kv = append(kv, k+":"+v)
		}
		slices.Sort(kv)
		out = append(out, cm.GetNamespace()+"/"+cm.GetName()+"="+strings.Join(kv, ","))
	}
	return out
}

func TestReplicator(t *testing.T) {
	tests := []struct {
		name       string
		objects    []any
		req        sdk.Request
		wantCopies []string
		wantErr    bool
	}{
		{
			name: "source is copied into target namespaces only",
			objects: []any{
				namespace("src", false), namespace("a", true), namespace("b", true), namespace("c", false),
				source("src", "settings", map[string]string{"k": "v"}),
			},
			req:        sdk.Request{Namespace: "src", Name: "settings"},
			wantCopies: []string{"a/settings=k:v", "b/settings=k:v"},
		},
		{
			name: "stale copy is updated",
			objects: []any{
				namespace("a", true),
				source("src", "settings", map[string]string{"k": "new"}),
				copyOf("a", "src", "settings", map[string]string{"k": "old", "gone": "x"}),
			},
			req:        sdk.Request{Namespace: "src", Name: "settings"},
			wantCopies: []string{"a/settings=k:new"},
		},
		{
			name: "deleted source takes its copies",
			objects: []any{
				namespace("a", true), namespace("b", true),
				copyOf("a", "src", "settings", map[string]string{"k": "v"}),
				copyOf("b", "src", "settings", map[string]string{"k": "v"}),
				copyOf("b", "other", "keep", nil),
			},
			req:        sdk.Request{Namespace: "src", Name: "settings"},
			wantCopies: []string{"b/keep="},
		},
		{
			name: "unlabelled source takes its copies",
			objects: []any{
				namespace("a", true),
				configMap("src", "settings", nil, map[string]string{"k": "v"}),
				copyOf("a", "src", "settings", map[string]string{"k": "v"}),
			},
			req: sdk.Request{Namespace: "src", Name: "settings"},
		},
		{
			name: "copy in a namespace that is no longer a target is deleted",
			objects: []any{
				namespace("a", true), namespace("b", false),
				source("src", "settings", map[string]string{"k": "v"}),
				copyOf("b", "src", "settings", map[string]string{"k": "v"}),
			},
			req:        sdk.Request{Namespace: "src", Name: "settings"},
			wantCopies: []string{"a/settings=k:v"},
		},
		{
			name: "a ConfigMap that is not a copy is left alone",
			objects: []any{
				namespace("a", true),
				source("src", "settings", map[string]string{"k": "v"}),
				configMap("a", "settings", nil, map[string]string{"mine": "yes"}),
			},
			req: sdk.Request{Namespace: "src", Name: "settings"},
		},
		{
			name: "namespace key brings in every source",
			objects: []any{
				namespace("a", true),
				source("x", "one", map[string]string{"n": "1"}),
				source("y", "two", map[string]string{"n": "2"}),
				source("a", "local", nil),
			},
			req:        sdk.Request{Name: "a"},
			wantCopies: []string{"a/one=n:1", "a/two=n:2"},
		},
		{
			name: "namespace key of a namespace that is not a target removes copies",
			objects: []any{
				namespace("a", false),
				copyOf("a", "x", "one", nil),
			},
			req: sdk.Request{Name: "a"},
		},
		{
			name:    "namespace key of a deleted namespace",
			objects: []any{source("x", "one", nil)},
			req:     sdk.Request{Name: "gone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := sdktest.NewCluster(t, tt.objects...)
			r := &replicator{client: sdk.NewClientFor(cluster)}
			_, err := r.Reconcile(t.Context(), tt.req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Reconcile error = %v, wantErr %v", err, tt.wantErr)
			}
			if got := copies(cluster); !reflect.DeepEqual(got, tt.wantCopies) {
				t.Errorf("copies = %q, want %q", got, tt.wantCopies)
			}

			// A second reconcile finds nothing to do.
			before := len(cluster.Writes())
			if _, err := r.Reconcile(t.Context(), tt.req); err != nil {
				t.Fatalf("second Reconcile: %v", err)
			}
			if writes := cluster.Writes()[before:]; len(writes) != 0 {
				t.Errorf("second reconcile wrote %q", writes)
			}
		})
	}
}

func TestReplicator_UserConfigMapUntouched(t *testing.T) {
	cluster := sdktest.NewCluster(t, namespace("a", true), source("src", "settings", map[string]string{"k": "v"}),
		configMap("a", "settings", nil, map[string]string{"mine": "yes"}))
	r := &replicator{client: sdk.NewClientFor(cluster)}
	if _, err := r.Reconcile(t.Context(), sdk.Request{Namespace: "src", Name: "settings"}); err != nil {
		t.Fatal(err)
	}
	got := cluster.Get(sdk.ConfigMaps, "a", "settings")
	if data, _ := got.NestedStringMap("data"); data["mine"] != "yes" || len(got.GetLabels()) != 0 {
		t.Errorf("user ConfigMap changed: %+v", got.Object)
	}
}

func TestReplicator_APIError(t *testing.T) {
	cluster := sdktest.NewCluster(t, namespace("a", true), source("src", "settings", nil))
	cluster.Intercept = func(req *sdk.APIRequest) *sdk.APIResponse {
		if req.Method == "POST" {
			return &sdk.APIResponse{Status: 403, Body: []byte(`{"kind":"Status","reason":"Forbidden","code":403,"message":"no"}`)}
		}
		return nil
	}
	r := &replicator{client: sdk.NewClientFor(cluster)}
	if _, err := r.Reconcile(t.Context(), sdk.Request{Namespace: "src", Name: "settings"}); !sdk.IsForbidden(err) {
		t.Errorf("Reconcile error = %v, want Forbidden", err)
	}
}
