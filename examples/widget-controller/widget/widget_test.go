package widget

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/sdktest"
)

func widget(name string, replicas int32, message string) *Widget {
	return &Widget{
		TypeMeta: sdk.TypeMeta{APIVersion: "demo.wasm.io/v1", Kind: "Widget"},
		Metadata: sdk.ObjectMeta{Name: name, Namespace: "d"},
		Spec:     WidgetSpec{Replicas: replicas, Message: message},
	}
}

// children returns the children of the Widget as "name=message".
func children(t *testing.T, c *sdktest.Cluster, w string) []string {
	t.Helper()
	owner := c.Get(widgets, "d", w)
	var out []string
	for _, o := range c.List(sdk.ConfigMaps, "d") {
		var cm configMap
		if err := o.Into(&cm); err != nil {
			t.Fatal(err)
		}
		if owner == nil || cm.Metadata.Labels[widgetLabel] != w {
			continue
		}
		ref, ok := sdk.ControllerOf(cm.Metadata.OwnerReferences)
		if !ok || ref.UID != owner.GetUID() || ref.Kind != "Widget" || ref.APIVersion != "demo.wasm.io/v1" || ref.Name != w {
			t.Errorf("child %s has owner references %+v", cm.Metadata.Name, cm.Metadata.OwnerReferences)
		}
		out = append(out, cm.Metadata.Name+"="+cm.Data["message"])
	}
	return out
}

func status(t *testing.T, c *sdktest.Cluster, name string) WidgetStatus {
	t.Helper()
	var w Widget
	if err := c.Get(widgets, "d", name).Into(&w); err != nil {
		t.Fatal(err)
	}
	return w.Status
}

func TestController(t *testing.T) {
	cluster := sdktest.NewCluster(t, widget("w", 3, "hello"))
	c := newController(sdk.NewClientFor(cluster))
	req := sdk.Request{Namespace: "d", Name: "w"}
	reconcile := func() {
		t.Helper()
		if _, err := c.Reconcile(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}

	reconcile()
	if got, want := children(t, cluster, "w"), []string{"w-0=hello", "w-1=hello", "w-2=hello"}; !reflect.DeepEqual(got, want) {
		t.Errorf("children = %q, want %q", got, want)
	}
	if got := status(t, cluster, "w"); got != (WidgetStatus{ReadyReplicas: 3, ObservedGeneration: 1}) {
		t.Errorf("status = %+v", got)
	}

	// Nothing to do the second time.
	before := len(cluster.Writes())
	reconcile()
	if writes := cluster.Writes()[before:]; len(writes) != 0 {
		t.Errorf("second reconcile wrote %q", writes)
	}

	// Scale down and change the message.
	obj := cluster.Get(widgets, "d", "w")
	_ = obj.SetNestedField(int64(1), "spec", "replicas")
	_ = obj.SetNestedField("bye", "spec", "message")
	if _, err := sdk.NewClientFor(cluster).Update(t.Context(), widgets, obj); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if got, want := children(t, cluster, "w"), []string{"w-0=bye"}; !reflect.DeepEqual(got, want) {
		t.Errorf("children = %q, want %q", got, want)
	}
	if got := status(t, cluster, "w"); got != (WidgetStatus{ReadyReplicas: 1, ObservedGeneration: 2}) {
		t.Errorf("status = %+v", got)
	}
}

func TestController_LeavesOthersAlone(t *testing.T) {
	// A ConfigMap with the label but another owner, one with a name that is
	// not a child's, and a Widget whose name prefixes another's.
	stranger := &configMap{
		TypeMeta: sdk.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Metadata: sdk.ObjectMeta{Name: "w-5", Namespace: "d", Labels: map[string]string{widgetLabel: "w"}},
	}
	cluster := sdktest.NewCluster(t, widget("w", 1, "m"), widget("w-1", 0, ""), stranger)
	c := newController(sdk.NewClientFor(cluster))
	if _, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "w"}); err != nil {
		t.Fatal(err)
	}
	if cluster.Get(sdk.ConfigMaps, "d", "w-5") == nil {
		t.Errorf("a ConfigMap the Widget does not own was deleted")
	}
	if _, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "w-1"}); err != nil {
		t.Fatal(err)
	}
	if cluster.Get(sdk.ConfigMaps, "d", "w-0") == nil {
		t.Errorf("reconciling w-1 deleted a child of w")
	}
}

func TestController_NameTaken(t *testing.T) {
	taken := &configMap{
		TypeMeta: sdk.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Metadata: sdk.ObjectMeta{Name: "w-1", Namespace: "d"},
	}
	cluster := sdktest.NewCluster(t, widget("w", 2, "m"), taken)
	c := newController(sdk.NewClientFor(cluster))
	if _, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "w"}); err == nil {
		t.Errorf("Reconcile succeeded with a child's name taken")
	}
	if got := status(t, cluster, "w"); got.ReadyReplicas != 1 {
		t.Errorf("status = %+v, want 1 ready", got)
	}
}

func TestController_WidgetGone(t *testing.T) {
	cluster := sdktest.NewCluster(t)
	c := newController(sdk.NewClientFor(cluster))
	if _, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "w"}); err != nil {
		t.Errorf("Reconcile of a deleted Widget: %v", err)
	}
}

func TestChildIndex(t *testing.T) {
	tests := []struct {
		name   string
		wantI  int32
		wantOK bool
	}{
		{"w-0", 0, true},
		{"w-12", 12, true},
		{"w-01", 0, false},
		{"w--1", 0, false},
		{"w-x", 0, false},
		{"w-1-0", 0, false},
		{"v-0", 0, false},
	}
	for _, tt := range tests {
		i, ok := childIndex("w", tt.name)
		if i != tt.wantI || ok != tt.wantOK {
			t.Errorf("childIndex(w, %q) = %d, %v; want %d, %v", tt.name, i, ok, tt.wantI, tt.wantOK)
		}
	}
}

// events returns the Events about the Widget w as "type reason count: message".
func events(t *testing.T, c *sdktest.Cluster, w string) []string {
	t.Helper()
	var out []string
	for _, o := range c.List(sdk.Events, "d") {
		var ev struct {
			InvolvedObject struct{ Kind, Name string }
			Type, Reason   string
			Message        string
			Count          int
		}
		if err := o.Into(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.InvolvedObject.Kind == "Widget" && ev.InvolvedObject.Name == w {
			out = append(out, fmt.Sprintf("%s %s %d: %s", ev.Type, ev.Reason, ev.Count, ev.Message))
		}
	}
	return out
}

// TestController_Events checks the Events recorded on the Widget: one when
// children change, none when nothing does, a warning when a reconcile fails.
func TestController_Events(t *testing.T) {
	taken := &configMap{
		TypeMeta: sdk.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Metadata: sdk.ObjectMeta{Name: "bad-0", Namespace: "d"},
	}
	cluster := sdktest.NewCluster(t, widget("w", 2, "m"), widget("bad", 1, "m"), taken)
	c := newController(sdk.NewClientFor(cluster))
	for range 2 {
		if _, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := events(t, cluster, "w"), []string{"Normal Synced 1: Created 2, updated 0 and deleted 0 ConfigMaps; 2 of 2 ready"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	for range 2 {
		if _, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "bad"}); err == nil {
			t.Fatal("Reconcile succeeded with a child's name taken")
		}
	}
	if got, want := events(t, cluster, "bad"), []string{"Warning SyncFailed 2: ConfigMap d/bad-0 exists and is not owned by the Widget"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}
