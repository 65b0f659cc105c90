package proxy

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-logr/logr/funcr"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// benchView is a CacheView over 10,000 ConfigMaps in 10 namespaces, for a
// ServiceAccount allowed to read them, through one watch of them all with
// the label selector sel (nil: none).
func benchView(b *testing.B, sel labels.Selector) *CacheView {
	b.Helper()
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for i := range 10_000 {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"data": map[string]any{"key": fmt.Sprintf("value-%d", i)}}}
		u.SetNamespace(fmt.Sprintf("ns-%d", i%10))
		u.SetName(fmt.Sprintf("cm-%d", i))
		u.SetLabels(map[string]string{"shard": fmt.Sprint(i % 100)})
		if err := inf.GetIndexer().Add(u); err != nil {
			b.Fatal(err)
		}
	}
	kube := fake.NewClientset()
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		sar.Status.Allowed = true
		return true, sar, nil
	})
	apiServer, err := NewPassthrough(&rest.Config{Host: "http://127.0.0.1:1"}, "ns-1", "sa")
	if err != nil {
		b.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	key := InformerKey{Resource: gvr}
	return NewCacheView("ns-1/bench", ServiceAccountUser("ns-1", "sa"), []CachedWatch{{Key: key, Kind: "ConfigMap", Labels: sel}},
		testPool(map[InformerKey]cache.SharedIndexInformer{key: inf}), NewAuthorizer(kube), apiServer, nil)
}

// BenchmarkCacheView serves reads from a cache of 10,000 ConfigMaps: in the
// host (the host-call handler alone) and from a Go guest through the
// api_request host call.
//
// The narrowed- cases read through a watch that selects shard=21, 10 of each
// namespace's 1,000: what the view costs when it shows only what the
// watches select.
func BenchmarkCacheView(b *testing.B) {
	view := benchView(b, nil)
	narrowed := benchView(b, labels.SelectorFromSet(labels.Set{"shard": "21"}))
	for _, tc := range []struct {
		name string
		view *CacheView
		req  wasmruntime.APIRequest
	}{
		{"get", view, wasmruntime.APIRequest{Method: "GET", Path: "/api/v1/namespaces/ns-1/configmaps/cm-4321"}},
		{"list-namespace-1000", view, wasmruntime.APIRequest{Method: "GET", Path: "/api/v1/namespaces/ns-1/configmaps"}},
		{"list-selector-10", view, wasmruntime.APIRequest{Method: "GET", Path: "/api/v1/namespaces/ns-1/configmaps", Query: "labelSelector=shard%3D21"}},
		{"narrowed-get", narrowed, wasmruntime.APIRequest{Method: "GET", Path: "/api/v1/namespaces/ns-1/configmaps/cm-4321"}},
		{"narrowed-list-namespace-10", narrowed, wasmruntime.APIRequest{Method: "GET", Path: "/api/v1/namespaces/ns-1/configmaps"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if resp := tc.view.ServeAPI(b.Context(), &tc.req); resp.Status != 200 {
					b.Fatalf("status %d: %s", resp.Status, resp.Body)
				}
			}
		})
	}

	wasm := guesttest.Build(b, "echo")
	r, err := wasmruntime.New(b.Context(), wasmruntime.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	m, err := r.Load(b.Context(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"guest-get", nil},
		{"guest-list-selector-10", map[string]string{"ECHO_LIST_SELECTOR": "shard=21"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			inst, err := m.Instantiate(b.Context(), wasmruntime.InstanceConfig{Name: "bench", Env: tc.env, MemoryLimit: 64 << 20,
				API: view, Logger: funcr.New(func(string, string) {}, funcr.Options{})})
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Close(context.Background())
			for b.Loop() {
				if _, err := inst.Reconcile(b.Context(), wasmruntime.Request{Namespace: "ns-1", Name: "cm-4321"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
