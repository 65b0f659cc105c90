package proxy

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
)

// waitForMetrics waits until reg reports want for the named metrics; the
// cache is counted as its events arrive, a little after the informer saw
// them.
func waitForMetrics(t *testing.T, reg metrics.Gatherer, want string, names ...string) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		last = testutil.GatherAndCompare(reg, strings.NewReader(want), names...)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("metrics: %v", last)
	}
}

// TestPoolCollector_FollowsTheCache: the objects and bytes reported follow
// the cache as objects are created, grow and are deleted.
func TestPoolCollector_FollowsTheCache(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{gvr: "ConfigMapList"})
	pool := NewInformerPool(client)
	key := InformerKey{Resource: gvr, Namespace: "a"}
	if err := WaitForSync(t.Context(), pool.Acquire(key), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	defer pool.Release(key)
	reg := metrics.NewKubeRegistry()
	if err := reg.CustomRegister(pool.Collector()); err != nil {
		t.Fatal(err)
	}
	cms := client.Resource(gvr).Namespace("a")
	expect := func(objects, bytes int) {
		t.Helper()
		waitForMetrics(t, reg, `
# HELP wasm_apiserver_cached_object_bytes [ALPHA] Size of the objects held in a shared informer's cache, as JSON; counted as they arrive.
# TYPE wasm_apiserver_cached_object_bytes gauge
wasm_apiserver_cached_object_bytes{namespace="a",resource="configmaps"} `+strconv.Itoa(bytes)+`
# HELP wasm_apiserver_cached_objects [ALPHA] Objects held in a shared informer's cache.
# TYPE wasm_apiserver_cached_objects gauge
wasm_apiserver_cached_objects{namespace="a",resource="configmaps"} `+strconv.Itoa(objects)+`
`, "wasm_apiserver_cached_objects", "wasm_apiserver_cached_object_bytes")
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "one", "namespace": "a"}}}
	if _, err := cms.Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The size of the object as stored, with what the server added.
	size := func(u *unstructured.Unstructured) int {
		got, err := cms.Get(t.Context(), u.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(got.Object)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	expect(1, size(cm))

	cm.Object["data"] = map[string]any{"k": strings.Repeat("x", 1000)}
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(1, size(cm))

	if err := cms.Delete(t.Context(), "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(0, 0)
}

// TestPoolCollector_ScrapeDoesNotHoldUpTheCaches: a scrape stalled by a
// slow reader of /metrics holds no lock that Acquire and Release need.
func TestPoolCollector_ScrapeDoesNotHoldUpTheCaches(t *testing.T) {
	a := InformerKey{Resource: configMaps, Namespace: "a"}
	b := InformerKey{Resource: configMaps, Namespace: "b"}
	pool := testPool(map[InformerKey]cache.SharedIndexInformer{a: testInformer(t), b: testInformer(t)})
	collector := pool.Collector()
	if err := metrics.NewKubeRegistry().CustomRegister(collector); err != nil {
		t.Fatal(err)
	}
	ch := make(chan metrics.Metric) // read one metric at a time
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		collector.CollectWithStability(ch)
	}()
	<-ch // the scrape is under way, and waits for its reader

	acquired := make(chan struct{})
	go func() {
		defer close(acquired)
		pool.Acquire(a)
		pool.Release(a)
	}()
	select {
	case <-acquired:
	case <-time.After(5 * time.Second):
		t.Error("Acquire and Release waited for a scrape's reader")
	}
	for {
		select {
		case <-ch:
		case <-scraped:
			<-acquired
			return
		}
	}
}
