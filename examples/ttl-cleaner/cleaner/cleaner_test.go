package cleaner

import (
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/sdktest"
)

func TestCleaner(t *testing.T) {
	created := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	withTTL := func(kind, name, ttl string) *sdk.Object {
		o := sdk.NewObject("v1", kind, "d", name)
		if ttl != "" {
			o.SetAnnotations(map[string]string{ttlAnnotation: ttl})
		}
		return o
	}
	tests := []struct {
		name        string
		objects     []any
		resources   []sdk.Resource
		key         string
		after       time.Duration
		wantRequeue time.Duration
		wantDeleted []string
	}{
		{name: "expired", objects: []any{withTTL("ConfigMap", "x", "30s")}, key: "x", after: 31 * time.Second,
			wantDeleted: []string{"DELETE /api/v1/namespaces/d/configmaps/x"}},
		{name: "expires exactly now", objects: []any{withTTL("ConfigMap", "x", "30s")}, key: "x", after: 30 * time.Second,
			wantDeleted: []string{"DELETE /api/v1/namespaces/d/configmaps/x"}},
		{name: "not yet", objects: []any{withTTL("ConfigMap", "x", "1h")}, key: "x", after: 15 * time.Minute, wantRequeue: 45 * time.Minute},
		{name: "no annotation", objects: []any{withTTL("ConfigMap", "x", "")}, key: "x", after: time.Hour},
		{name: "invalid annotation", objects: []any{withTTL("ConfigMap", "x", "soon")}, key: "x", after: time.Hour},
		{name: "negative annotation", objects: []any{withTTL("ConfigMap", "x", "-1s")}, key: "x", after: time.Hour},
		{name: "gone", key: "x", after: time.Hour},
		{name: "secret ignored by default", objects: []any{withTTL("Secret", "x", "1s")}, key: "x", after: time.Hour},
		{
			name:        "secret and configmap of one name",
			objects:     []any{withTTL("Secret", "x", "1s"), withTTL("ConfigMap", "x", "2h")},
			resources:   []sdk.Resource{sdk.ConfigMaps, sdk.Secrets},
			key:         "x",
			after:       time.Hour,
			wantRequeue: time.Hour,
			wantDeleted: []string{"DELETE /api/v1/namespaces/d/secrets/x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := sdktest.NewCluster(t)
			cluster.Now = func() time.Time { return created }
			for _, o := range tt.objects {
				if err := cluster.Add(o); err != nil {
					t.Fatal(err)
				}
			}
			resources := tt.resources
			if resources == nil {
				resources = []sdk.Resource{sdk.ConfigMaps}
			}
			c := &cleaner{client: sdk.NewClientFor(cluster), resources: resources, now: func() time.Time { return created.Add(tt.after) }}
			res, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: tt.key, Reason: sdk.ReasonEvent})
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter != tt.wantRequeue {
				t.Errorf("RequeueAfter = %v, want %v", res.RequeueAfter, tt.wantRequeue)
			}
			writes := cluster.Writes()
			if len(writes) != len(tt.wantDeleted) || (len(writes) > 0 && writes[0] != tt.wantDeleted[0]) {
				t.Errorf("writes = %q, want %q", writes, tt.wantDeleted)
			}
		})
	}
}

func TestCleaner_ReplacedObjectIsKept(t *testing.T) {
	created := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	old := sdk.NewObject("v1", "ConfigMap", "d", "x")
	old.SetAnnotations(map[string]string{ttlAnnotation: "1s"})
	cluster := sdktest.NewCluster(t)
	cluster.Now = func() time.Time { return created }
	if err := cluster.Add(old); err != nil {
		t.Fatal(err)
	}
	// Between the cleaner's Get and its Delete, the object is replaced.
	cluster.Intercept = func(req *sdk.APIRequest) *sdk.APIResponse {
		if req.Method == "DELETE" {
			cluster.Intercept = nil
			return &sdk.APIResponse{Status: 409, Body: []byte(`{"kind":"Status","reason":"Conflict","code":409}`)}
		}
		return nil
	}
	c := &cleaner{client: sdk.NewClientFor(cluster), resources: []sdk.Resource{sdk.ConfigMaps}, now: func() time.Time { return created.Add(time.Hour) }}
	res, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "x"})
	if err != nil || res.RequeueAfter != time.Second {
		t.Errorf("Reconcile = %+v, %v; want a requeue after 1s", res, err)
	}
}
