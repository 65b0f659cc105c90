package sdktest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

func TestCluster(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ns := sdk.NewObject("v1", "Namespace", "", "team-a")
	ns.SetLabels(map[string]string{"env": "prod"})
	cluster := NewCluster(t, ns)
	cluster.Now = func() time.Time { return now }
	c := sdk.NewClientFor(cluster)
	ctx := t.Context()

	cm := sdk.NewObject("v1", "ConfigMap", "team-a", "settings")
	cm.SetLabels(map[string]string{"app": "web"})
	_ = cm.SetNestedField(map[string]string{"a": "1"}, "data")
	created, err := c.Create(ctx, sdk.ConfigMaps, cm)
	if err != nil {
		t.Fatal(err)
	}
	if created.GetUID() == "" || created.GetResourceVersion() == "" || !created.GetCreationTimestamp().Equal(now) {
		t.Errorf("created = %+v", created.Object)
	}
	if _, err := c.Create(ctx, sdk.ConfigMaps, cm); !sdk.IsAlreadyExists(err) {
		t.Errorf("second create = %v, want AlreadyExists", err)
	}

	stale := created.DeepCopy()
	_ = created.SetNestedField("2", "data", "a")
	updated, err := c.Update(ctx, sdk.ConfigMaps, created)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := updated.NestedString("data", "a"); v != "2" || updated.GetGeneration() != 2 {
		t.Errorf("updated = %+v", updated.Object)
	}
	if _, err := c.Update(ctx, sdk.ConfigMaps, stale); !sdk.IsConflict(err) {
		t.Errorf("stale update = %v, want Conflict", err)
	}

	patched, err := c.Patch(ctx, sdk.ConfigMaps, "team-a", "settings", sdk.MergePatch, `{"data":{"b":"3","a":null}}`)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := patched.NestedStringMap("data"); len(data) != 1 || data["b"] != "3" {
		t.Errorf("patched data = %v", data)
	}

	list, err := c.List(ctx, sdk.ConfigMaps, "", sdk.LabelSelector("app=web,!missing"), sdk.FieldSelector("metadata.namespace=team-a"))
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list, _ := c.List(ctx, sdk.ConfigMaps, "", sdk.LabelSelector("app!=web")); len(list.Items) != 0 {
		t.Errorf("List(app!=web) = %d items", len(list.Items))
	}
	if list, _ := c.List(ctx, sdk.Namespaces, "", sdk.MatchingLabels{"env": "prod"}); len(list.Items) != 1 || list.Items[0].GetKind() != "Namespace" {
		t.Errorf("List(namespaces) = %+v", list)
	}
	// A list's kind is its items' kind with "List", as the API server
	// answers (typed clients decode it by that kind).
	for path, want := range map[string]string{"/api/v1/namespaces/team-a/configmaps": "ConfigMapList", "/api/v1/secrets": "List"} {
		resp, err := cluster.Do(ctx, &sdk.APIRequest{Method: "GET", Path: path})
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Kind string }
		if err := json.Unmarshal(resp.Body, &list); err != nil || list.Kind != want {
			t.Errorf("GET %s: kind %q (%v), want %q", path, list.Kind, err, want)
		}
	}

	if err := c.Delete(ctx, sdk.ConfigMaps, "team-a", "settings", sdk.Preconditions{UID: "other"}); !sdk.IsConflict(err) {
		t.Errorf("delete with a wrong uid = %v, want Conflict", err)
	}
	if err := c.Delete(ctx, sdk.ConfigMaps, "team-a", "settings", sdk.Preconditions{UID: created.GetUID()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, sdk.ConfigMaps, "team-a", "settings"); !sdk.IsNotFound(err) {
		t.Errorf("get after delete = %v, want NotFound", err)
	}
	if got := cluster.Writes(); len(got) != 7 {
		t.Errorf("writes = %q", got)
	}
}

func TestCluster_Status(t *testing.T) {
	widgets := sdk.Resource{Group: "demo.wasm.io", Version: "v1", Resource: "widgets", Namespaced: true, Kind: "Widget"}
	w := sdk.NewObject("demo.wasm.io/v1", "Widget", "d", "w")
	_ = w.SetNestedField(int64(2), "spec", "replicas")
	cluster := NewCluster(t, w)
	c := sdk.NewClientFor(cluster)
	ctx := t.Context()

	got, err := c.Get(ctx, widgets, "d", "w")
	if err != nil {
		t.Fatal(err)
	}
	_ = got.SetNestedField(int64(2), "status", "readyReplicas")
	_ = got.SetNestedField(int64(5), "spec", "replicas")
	after, err := c.UpdateStatus(ctx, widgets, got)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := after.NestedInt64("spec", "replicas"); r != 2 {
		t.Errorf("status update changed spec.replicas to %d", r)
	}
	if r, _ := after.NestedInt64("status", "readyReplicas"); r != 2 || after.GetGeneration() != 1 {
		t.Errorf("after status update: ready %d generation %d", r, after.GetGeneration())
	}

	_ = after.SetNestedField(int64(9), "status", "readyReplicas")
	_ = after.SetNestedField(int64(3), "spec", "replicas")
	after, err = c.Update(ctx, widgets, after)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := after.NestedInt64("status", "readyReplicas"); r != 2 || after.GetGeneration() != 2 {
		t.Errorf("after update: ready %d generation %d", r, after.GetGeneration())
	}

	rv := after.GetResourceVersion()
	same, err := c.UpdateStatus(ctx, widgets, after)
	if err != nil || same.GetResourceVersion() != rv {
		t.Errorf("a no-op update changed resourceVersion %s to %s (%v)", rv, same.GetResourceVersion(), err)
	}
}
