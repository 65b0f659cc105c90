package proxy

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/component-base/metrics"
)

func TestInformerPool(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	cm := func(ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetManagedFields(nil)
		u.Object["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "kubectl"}}
		return u
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{gvr: "ConfigMapList"}, cm("a", "one"), cm("b", "two"))
	pool := NewInformerPool(client)
	all, inA := InformerKey{Resource: gvr}, InformerKey{Resource: gvr, Namespace: "a"}

	// Two controllers watching ConfigMaps everywhere share one informer.
	first, second := pool.Acquire(all), pool.Acquire(all)
	if first != second {
		t.Fatal("two acquisitions of one key got different informers")
	}
	pool.Acquire(inA)
	if pool.Len() != 2 {
		t.Fatalf("informers = %d, want 2", pool.Len())
	}
	if err := WaitForSync(t.Context(), first, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	obj, ok, _ := first.GetStore().GetByKey("a/one")
	if !ok || len(obj.(*unstructured.Unstructured).GetManagedFields()) != 0 {
		t.Errorf("cached object %v (found %v) still has managedFields", obj, ok)
	}
	if err := WaitForSync(t.Context(), pool.Acquire(inA), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	pool.Release(inA)

	// Each cached ConfigMap is this many bytes of JSON, managedFields gone.
	one := len(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"one","namespace":"a"}}`)
	two := len(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"two","namespace":"b"}}`)
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(pool.Collector())
	waitForMetrics(t, reg, fmt.Sprintf(`
# HELP wasm_apiserver_cached_object_bytes [ALPHA] Size of the objects held in a shared informer's cache, as JSON; counted as they arrive.
# TYPE wasm_apiserver_cached_object_bytes gauge
wasm_apiserver_cached_object_bytes{namespace="",resource="configmaps"} %d
wasm_apiserver_cached_object_bytes{namespace="a",resource="configmaps"} %d`, one+two, one)+`
# HELP wasm_apiserver_cached_objects [ALPHA] Objects held in a shared informer's cache.
# TYPE wasm_apiserver_cached_objects gauge
wasm_apiserver_cached_objects{namespace="",resource="configmaps"} 2
wasm_apiserver_cached_objects{namespace="a",resource="configmaps"} 1
# HELP wasm_apiserver_informers [ALPHA] Shared informers running for guests, one per resource and scope.
# TYPE wasm_apiserver_informers gauge
wasm_apiserver_informers 2
`, "wasm_apiserver_cached_objects", "wasm_apiserver_cached_object_bytes", "wasm_apiserver_informers")

	// The last release stops an informer; one release of two does not.
	pool.Release(all)
	pool.Release(inA)
	if pool.Len() != 1 {
		t.Errorf("informers after releasing one of two users and the last of the other = %d, want 1", pool.Len())
	}
	pool.Release(all)
	if pool.Len() != 0 {
		t.Errorf("informers after the last release = %d, want 0", pool.Len())
	}
}

// TestInformerPool_Close: Close stops every informer, those still
// referenced included, and returns only once their goroutines have; the
// pool starts none afterwards.
func TestInformerPool_Close(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{gvr: "ConfigMapList"})
	pool := NewInformerPool(client)
	all, inA := InformerKey{Resource: gvr}, InformerKey{Resource: gvr, Namespace: "a"}
	for _, key := range []InformerKey{all, all, inA} {
		if err := WaitForSync(t.Context(), pool.Acquire(key), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	pool.Release(inA) // stopped, maybe still returning

	pool.Close()
	if n := pool.Len(); n != 0 {
		t.Errorf("informers after Close = %d, want 0", n)
	}
	late := pool.Acquire(all)
	if err := WaitForSync(t.Context(), late, 100*time.Millisecond); err == nil {
		t.Error("an informer acquired after Close synced: it was started")
	}
	pool.Release(all)
}
