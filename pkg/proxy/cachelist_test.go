package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func testInformer(t *testing.T, objs ...*unstructured.Unstructured) cache.SharedIndexInformer {
	t.Helper()
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		if err := inf.GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return inf
}

// testPool is an InformerPool already running the given informers.
func testPool(informers map[InformerKey]cache.SharedIndexInformer) *InformerPool {
	p := &InformerPool{informers: map[InformerKey]*sharedInformer{}}
	for key, inf := range informers {
		p.informers[key] = &sharedInformer{informer: inf, cancel: func() {}, refs: 1}
	}
	return p
}

func configMap(ns, name, value string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"v": value}}}
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// allowAll is an Authorizer whose SubjectAccessReviews all allow.
func allowAll() *Authorizer {
	kube := fake.NewClientset()
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		sar.Status.Allowed = true
		return true, sar, nil
	})
	return NewAuthorizer(kube)
}

func cacheViewOf(t *testing.T, authz *Authorizer, objs ...*unstructured.Unstructured) *CacheView {
	t.Helper()
	key := InformerKey{Resource: configMaps}
	return NewCacheView("team/c", ServiceAccountUser("team", "sa"), []CachedWatch{{Key: key, Kind: "ConfigMap"}},
		testPool(map[InformerKey]cache.SharedIndexInformer{key: testInformer(t, objs...)}), authz, nil, nil)
}

type listPage struct {
	Metadata struct {
		Continue           string
		RemainingItemCount *int
	}
	Items []struct {
		Metadata struct{ Namespace, Name string }
	}
}

// TestCacheView_ListPages checks that a LIST from the cache honours limit
// and continue, so that a guest can read a large list in pages.
func TestCacheView_ListPages(t *testing.T) {
	view := cacheViewOf(t, allowAll(),
		configMap("a", "x", ""), configMap("b", "y", ""), configMap("a", "z", ""), configMap("c", "w", ""), configMap("b", "a", ""))
	var names []string
	var remaining []int
	query := "limit=2"
	for range 10 {
		resp := view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/configmaps", Query: query})
		if resp.Status != http.StatusOK {
			t.Fatalf("LIST ?%s: %d %s", query, resp.Status, resp.Body)
		}
		if ct := resp.Headers["Content-Type"]; ct != "application/json" {
			t.Errorf("Content-Type of a cache answer = %q, want application/json", ct)
		}
		var page listPage
		if err := json.Unmarshal(resp.Body, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			names = append(names, it.Metadata.Namespace+"/"+it.Metadata.Name)
		}
		if page.Metadata.Continue == "" {
			break
		}
		remaining = append(remaining, *page.Metadata.RemainingItemCount)
		query = "limit=2&continue=" + page.Metadata.Continue
	}
	if diff := cmp.Diff([]string{"a/x", "a/z", "b/a", "b/y", "c/w"}, names); diff != "" {
		t.Errorf("objects listed in pages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 1}, remaining); diff != "" {
		t.Errorf("remainingItemCount (-want +got):\n%s", diff)
	}

	for _, query := range []string{"limit=-1", "limit=x", "continue=not-a-token"} {
		resp := view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/configmaps", Query: query})
		wantStatus(t, resp, http.StatusBadRequest, "BadRequest", "")
	}
}

// TestCacheView_ListSizeBound checks that a LIST larger than a guest may
// receive is answered with 413 and a hint to page, not built whole.
func TestCacheView_ListSizeBound(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	var objs []*unstructured.Unstructured
	for i := range maxBody>>20 + 2 {
		objs = append(objs, configMap("big", fmt.Sprintf("cm-%03d", i), big))
	}
	view := cacheViewOf(t, allowAll(), objs...)
	resp := view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/big/configmaps"})
	wantStatus(t, resp, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "limit and continue")

	resp = view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/big/configmaps", Query: "limit=10"})
	var page listPage
	if err := json.Unmarshal(resp.Body, &page); resp.Status != http.StatusOK || err != nil || len(page.Items) != 10 {
		t.Errorf("a page of 10: %d, %v, %d items", resp.Status, err, len(page.Items))
	}
}

// TestEncodeList_StopsAtTheBound checks that a list is encoded object by
// object and given up as soon as the bound is reached.
func TestEncodeList_StopsAtTheBound(t *testing.T) {
	var items []*unstructured.Unstructured
	for i := range 100 {
		items = append(items, configMap("d", fmt.Sprintf("cm-%d", i), strings.Repeat("x", 100)))
	}
	out := newBoundedBuffer(1000)
	err := encodeList(out, apiPath{Resource: configMaps}, "ConfigMap", map[string]any{}, items)
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("encodeList = %v, want errTooLarge", err)
	}
	if len(out.data) > 1000 {
		t.Errorf("the buffer grew to %d bytes, past its bound of 1000", len(out.data))
	}

	out = newBoundedBuffer(1 << 20)
	if err := encodeList(out, apiPath{Resource: configMaps}, "ConfigMap", map[string]any{"resourceVersion": "7"}, items[:2]); err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion, Kind string
		Metadata         map[string]any
		Items            []map[string]any
	}
	if err := json.Unmarshal(out.data, &list); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.data)
	}
	if list.APIVersion != "v1" || list.Kind != "ConfigMapList" || list.Metadata["resourceVersion"] != "7" || len(list.Items) != 2 {
		t.Errorf("list = %+v", list)
	}
}

// TestCacheView_GetByResourceName checks that a GET from the cache is
// allowed by an RBAC rule that names the object (resourceNames).
func TestCacheView_GetByResourceName(t *testing.T) {
	kube := fake.NewClientset()
	var asked []string
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		asked = append(asked, ra.Verb+" "+ra.Name)
		// Role rule: verbs [get], resourceNames [allowed].
		sar.Status.Allowed = ra.Verb == "get" && ra.Name == "allowed"
		return true, sar, nil
	})
	view := cacheViewOf(t, NewAuthorizer(kube), configMap("d", "allowed", "1"), configMap("d", "other", "2"))
	resp := view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps/allowed"})
	if resp.Status != http.StatusOK {
		t.Errorf("GET of the named ConfigMap: %d %s, want 200", resp.Status, resp.Body)
	}
	resp = view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps/other"})
	wantStatus(t, resp, http.StatusForbidden, "Forbidden", `configmaps "other" is forbidden`)
	resp = view.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps"})
	wantStatus(t, resp, http.StatusForbidden, "Forbidden", "cannot list")
	if diff := cmp.Diff([]string{"get ", "get allowed", "get other", "list "}, asked); diff != "" {
		t.Errorf("SubjectAccessReviews (-want +got):\n%s", diff)
	}
}
