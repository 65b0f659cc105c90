package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

func TestCacheView_ServeAPI(t *testing.T) {
	var serverCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serverCalls.Add(1)
		_, _ = w.Write([]byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"from-server"}}`))
	}))
	defer srv.Close()
	apiServer, err := NewPassthrough(&rest.Config{Host: srv.URL}, "team", "sa")
	if err != nil {
		t.Fatal(err)
	}

	// The ServiceAccount may read ConfigMaps but not Secrets.
	kube := fake.NewClientset()
	var sars atomic.Int32
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sars.Add(1)
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		sar.Status.Allowed = sar.Spec.ResourceAttributes.Resource == "configmaps" && sar.Spec.User == ServiceAccountUser("team", "sa")
		return true, sar, nil
	})

	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secretGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	obj := func(ns, name string, labels map[string]string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetLabels(labels)
		return u
	}
	teamConfigMaps := InformerKey{Resource: cmGVR, Namespace: "team"}
	secrets := InformerKey{Resource: secretGVR}
	// The informer of the watch of the namespace "gone" no longer runs.
	goneConfigMaps := InformerKey{Resource: cmGVR, Namespace: "gone"}
	pool := testPool(map[InformerKey]cache.SharedIndexInformer{
		teamConfigMaps: testInformer(t, obj("team", "a", map[string]string{"app": "x"}), obj("team", "b", nil)),
		secrets:        testInformer(t),
	})
	reg := metrics.NewKubeRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	view := NewCacheView("team/c", ServiceAccountUser("team", "sa"), []CachedWatch{
		{Key: teamConfigMaps, Kind: "ConfigMap"}, {Key: secrets, Kind: "Secret"}, {Key: goneConfigMaps, Kind: "ConfigMap"},
	}, pool, NewAuthorizer(kube), apiServer, m)

	tests := []struct {
		name       string
		req        abi.APIRequest
		wantStatus int
		wantInBody string
		wantServer bool
		wantItems  []string
	}{
		{name: "get from the cache", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/configmaps/a"},
			wantStatus: 200, wantInBody: `"name":"a"`},
		{name: "status from the cache", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/configmaps/a/status"},
			wantStatus: 200, wantInBody: `"name":"a"`},
		{name: "another subresource is not in the cache", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/configmaps/a/scale"},
			wantStatus: 404, wantInBody: `subresource \"scale\"`},
		{name: "not in the cache", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/configmaps/zzz"},
			wantStatus: 404, wantInBody: `"reason":"NotFound"`},
		{name: "list with a label selector", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/configmaps", Query: "labelSelector=app%3Dx"},
			wantStatus: 200, wantInBody: `"kind":"ConfigMapList"`, wantItems: []string{"a"}},
		{name: "list everything in the namespace", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/configmaps"},
			wantStatus: 200, wantItems: []string{"a", "b"}},
		{name: "a namespace the watch does not cover", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/other/configmaps/a"},
			wantStatus: 403, wantInBody: "not watched by this WasmController"},
		{name: "a resource not declared", req: abi.APIRequest{Method: "GET", Path: "/apis/apps/v1/namespaces/team/deployments"},
			wantStatus: 403, wantInBody: "add a watch for it to spec.watches"},
		{name: "declared but RBAC denies", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/secrets/s"},
			wantStatus: 403, wantInBody: `cannot get resource \"secrets\"`},
		{name: "a watch whose informer stopped", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/gone/configmaps/a"},
			wantStatus: 503, wantInBody: "is not running"},
		{name: "read-your-writes bypasses the cache", req: abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/team/configmaps/a",
			Headers: map[string]string{"Cache-Control": "no-cache"}}, wantStatus: 200, wantServer: true},
		{name: "writes go to the API server", req: abi.APIRequest{Method: "POST", Path: "/api/v1/namespaces/team/configmaps", Body: json.RawMessage(`{}`)},
			wantStatus: 200, wantServer: true},
		// A write is checked by the view as the passthrough checks it, once.
		{name: "a write naming another user is refused", req: abi.APIRequest{Method: "POST", Path: "/api/v1/namespaces/team/configmaps",
			Headers: map[string]string{"Impersonate-User": "system:admin"}, Body: json.RawMessage(`{}`)},
			wantStatus: 400, wantInBody: "Impersonate-User"},
		{name: "a write to a streaming subresource is refused", req: abi.APIRequest{Method: "POST",
			Path: "/api/v1/namespaces/team/pods/p/exec"}, wantStatus: 405, wantInBody: "streams"},
		{name: "a write with a parameter of watches is refused", req: abi.APIRequest{Method: "DELETE",
			Path: "/api/v1/namespaces/team/configmaps", Query: "sendInitialEvents=true"}, wantStatus: 400, wantInBody: "sendInitialEvents"},
		{name: "a write over the request bound is refused", req: abi.APIRequest{Method: "PUT", Path: "/api/v1/namespaces/team/configmaps/a",
			Body: json.RawMessage(`"` + strings.Repeat("x", abi.MaxRequestBytes) + `"`)}, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := serverCalls.Load()
			resp := view.ServeAPI(t.Context(), &tt.req)
			if resp.Status != tt.wantStatus || !strings.Contains(string(resp.Body), tt.wantInBody) {
				t.Fatalf("status %d body %s; want %d containing %s", resp.Status, resp.Body, tt.wantStatus, tt.wantInBody)
			}
			if reached := serverCalls.Load() > before; reached != tt.wantServer {
				t.Errorf("reached the API server = %v, want %v", reached, tt.wantServer)
			}
			if tt.wantItems != nil {
				var list struct {
					Metadata struct{ ResourceVersion string }
					Items    []struct{ Metadata struct{ Name string } }
				}
				if err := json.Unmarshal(resp.Body, &list); err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, it := range list.Items {
					names = append(names, it.Metadata.Name)
				}
				if strings.Join(names, ",") != strings.Join(tt.wantItems, ",") {
					t.Errorf("items = %v, want %v", names, tt.wantItems)
				}
			}
		})
	}
	// Reads the cache answered, found or not, and requests passed on.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP wasm_apiserver_guest_api_requests_total [ALPHA] API requests made by guests, by controller and by where they were served: cache or apiserver.
# TYPE wasm_apiserver_guest_api_requests_total counter
wasm_apiserver_guest_api_requests_total{controller="team/c",source="apiserver"} 2
wasm_apiserver_guest_api_requests_total{controller="team/c",source="cache"} 5
`), "wasm_apiserver_guest_api_requests_total"); err != nil {
		t.Error(err)
	}
	// One SubjectAccessReview per (verb, resource, namespace), remembered,
	// and one for the name when that is denied.
	if n := sars.Load(); n != 5 {
		t.Errorf("SubjectAccessReviews = %d, want 5: get and list of configmaps in team, get in gone, get of any secret and of secret s (the no-cache get reuses the first)", n)
	}
}
