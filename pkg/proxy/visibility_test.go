package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// The view shows a guest the objects its watches select, as informers with
// the watches' selectors would, whether the cache or the API server answers.
func TestCacheView_ShowsOnlyWatchedObjects(t *testing.T) {
	labelled := func(ns, name string, l map[string]string) *unstructured.Unstructured {
		u := configMap(ns, name, "v")
		u.SetLabels(l)
		return u
	}
	objs := []*unstructured.Unstructured{
		labelled("a", "app", map[string]string{"app": "x"}),
		labelled("a", "plain", nil),
		labelled("a", "web", map[string]string{"tier": "web"}),
		labelled("b", "app", map[string]string{"app": "x"}),
		labelled("b", "web", map[string]string{"tier": "web"}),
		labelled("b", "named", nil),
	}
	// The API server answers as an unfiltered cache would.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
		var items []any
		for _, o := range objs {
			if len(parts) >= 2 && parts[0] == "namespaces" && parts[1] != o.GetNamespace() {
				continue
			}
			if len(parts) == 4 {
				if parts[3] == o.GetName() {
					_ = json.NewEncoder(w).Encode(o.Object)
					return
				}
				continue
			}
			items = append(items, o.Object)
		}
		if len(parts) == 4 {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "v1", "kind": "ConfigMapList", "items": items})
	}))
	defer srv.Close()
	apiServer, err := NewPassthrough(&rest.Config{Host: srv.URL}, "team", "sa")
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	all, inB := InformerKey{Resource: gvr}, InformerKey{Resource: gvr, Namespace: "b"}
	pool := testPool(map[InformerKey]cache.SharedIndexInformer{all: testInformer(t, objs...), inB: testInformer(t, objs[3:]...)})
	// app=x anywhere; tier=web in b; the one named "named" in b.
	view := NewCacheView("team/c", ServiceAccountUser("team", "sa"), []CachedWatch{
		{Key: all, Kind: "ConfigMap", Labels: labels.SelectorFromSet(labels.Set{"app": "x"})},
		{Key: inB, Kind: "ConfigMap", Labels: labels.SelectorFromSet(labels.Set{"tier": "web"})},
		{Key: inB, Kind: "ConfigMap", Fields: fields.OneTermEqualSelector("metadata.name", "named")},
	}, pool, allowAll(), apiServer, nil)

	for _, uncached := range []bool{false, true} {
		var headers map[string]string
		if uncached {
			headers = map[string]string{"Cache-Control": "no-cache"}
		}
		get := func(path string) *abi.APIResponse {
			return view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: path, Headers: headers})
		}
		for path, want := range map[string]int{
			"/api/v1/namespaces/a/configmaps/app":     200,
			"/api/v1/namespaces/a/configmaps/plain":   404, // no watch selects it
			"/api/v1/namespaces/a/configmaps/web":     404, // tier=web is watched in b only
			"/api/v1/namespaces/b/configmaps/web":     200,
			"/api/v1/namespaces/b/configmaps/named":   200,
			"/api/v1/namespaces/b/configmaps/app":     200,
			"/api/v1/namespaces/a/configmaps/missing": 404,
		} {
			resp := get(path)
			if resp.Status != want {
				t.Errorf("uncached=%v GET %s: status %d body %s, want %d", uncached, path, resp.Status, resp.Body, want)
			}
			// A hidden object reads as a missing one.
			if want == 404 && !strings.Contains(string(resp.Body), `"reason":"NotFound"`) {
				t.Errorf("uncached=%v GET %s: body %s, want a NotFound Status", uncached, path, resp.Body)
			}
		}
		for path, want := range map[string][]string{
			"/api/v1/configmaps":              {"a/app", "b/app", "b/named", "b/web"},
			"/api/v1/namespaces/a/configmaps": {"a/app"},
			"/api/v1/namespaces/b/configmaps": {"b/app", "b/named", "b/web"},
		} {
			resp := get(path)
			if resp.Status != 200 {
				t.Fatalf("uncached=%v LIST %s: status %d body %s", uncached, path, resp.Status, resp.Body)
			}
			var list struct{ Items []unstructured.Unstructured }
			if err := json.Unmarshal(resp.Body, &list); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range list.Items {
				got = append(got, it.GetNamespace()+"/"+it.GetName())
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("uncached=%v LIST %s = %v, want %v", uncached, path, got, want)
			}
		}
	}

	// A watch with no selectors shows its whole scope.
	open := NewCacheView("team/c", ServiceAccountUser("team", "sa"), []CachedWatch{{Key: inB, Kind: "ConfigMap"}},
		pool, allowAll(), apiServer, nil)
	if resp := open.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/b/configmaps/named"}); resp.Status != 200 {
		t.Errorf("GET through a watch without selectors: status %d body %s", resp.Status, resp.Body)
	}
}

// An uncached read narrowed by the watches passes on what it keeps as the
// API server wrote it, judges numbers as the cache does, and does not page:
// the API server's pages would tell of the objects it hides.
func TestCacheView_UncachedNarrowed(t *testing.T) {
	const big = "9007199254740993" // not a float64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/namespaces/a/configmaps":
			_, _ = w.Write([]byte(`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[` +
				`{"metadata":{"namespace":"a","name":"shown","labels":{"app":"x"}},"data":{"n":"1"},"big":` + big + `},` +
				`{"metadata":{"namespace":"a","name":"hidden"}}]}`))
		case "/api/v1/namespaces/a/configmaps/sized":
			_, _ = w.Write([]byte(`{"metadata":{"namespace":"a","name":"sized"},"size":1000000}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	apiServer, err := NewPassthrough(&rest.Config{Host: srv.URL}, "team", "sa")
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	key := InformerKey{Resource: gvr, Namespace: "a"}
	view := NewCacheView("team/c", ServiceAccountUser("team", "sa"), []CachedWatch{
		{Key: key, Kind: "ConfigMap", Labels: labels.SelectorFromSet(labels.Set{"app": "x"})},
		{Key: key, Kind: "ConfigMap", Fields: fields.OneTermEqualSelector("size", "1000000")},
	}, testPool(map[InformerKey]cache.SharedIndexInformer{key: testInformer(t)}), allowAll(), apiServer, nil)
	uncached := map[string]string{"Cache-Control": "no-cache"}
	serve := func(path, query string) *abi.APIResponse {
		return view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: path, Query: query, Headers: uncached})
	}

	resp := serve("/api/v1/namespaces/a/configmaps", "")
	if resp.Status != 200 || !strings.Contains(string(resp.Body), `"big":`+big) ||
		strings.Contains(string(resp.Body), "hidden") || !strings.Contains(string(resp.Body), `"resourceVersion":"7"`) {
		t.Errorf("uncached LIST: status %d body %s; want the shown item as written, with the list's metadata", resp.Status, resp.Body)
	}
	if resp := serve("/api/v1/namespaces/a/configmaps/sized", ""); resp.Status != 200 {
		t.Errorf("uncached GET of an object a field selector on a number selects: status %d body %s", resp.Status, resp.Body)
	}
	for _, query := range []string{"limit=1", "continue=abc"} {
		if resp := serve("/api/v1/namespaces/a/configmaps", query); resp.Status != 400 || !strings.Contains(string(resp.Body), "list from the cache") {
			t.Errorf("uncached LIST with %s: status %d body %s, want 400", query, resp.Status, resp.Body)
		}
	}
}
