package sdk

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

const configMapJSON = `{
  "apiVersion": "v1",
  "kind": "ConfigMap",
  "metadata": {
    "name": "settings",
    "namespace": "team-a",
    "uid": "6f1c",
    "resourceVersion": "42",
    "generation": 9007199254740993,
    "creationTimestamp": "2025-01-02T03:04:05Z",
    "labels": {"wasm.io/replicate": "true"},
    "annotations": {"wasm.io/ttl": "30s"},
    "ownerReferences": [{"apiVersion": "demo.wasm.io/v1", "kind": "Widget", "name": "w", "uid": "u1", "controller": true}]
  },
  "data": {"a": "1"},
  "spec": {"replicas": 3, "ratio": 0.5, "enabled": true, "ports": [80, 443]}
}`

func decodeObject(t *testing.T, s string) *Object {
	t.Helper()
	o := &Object{}
	if err := json.Unmarshal([]byte(s), o); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestObject_Metadata(t *testing.T) {
	o := decodeObject(t, configMapJSON)
	checks := []struct {
		name      string
		got, want any
	}{
		{"apiVersion", o.GetAPIVersion(), "v1"},
		{"kind", o.GetKind(), "ConfigMap"},
		{"name", o.GetName(), "settings"},
		{"namespace", o.GetNamespace(), "team-a"},
		{"uid", o.GetUID(), "6f1c"},
		{"resourceVersion", o.GetResourceVersion(), "42"},
		{"generation beyond float64 precision", o.GetGeneration(), int64(9007199254740993)},
		{"creationTimestamp", o.GetCreationTimestamp(), time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"deletionTimestamp", o.GetDeletionTimestamp(), (*time.Time)(nil)},
		{"labels", o.GetLabels(), map[string]string{"wasm.io/replicate": "true"}},
		{"annotations", o.GetAnnotations(), map[string]string{"wasm.io/ttl": "30s"}},
		{"finalizers", o.GetFinalizers(), []string(nil)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	refs := o.GetOwnerReferences()
	if ctrl, ok := ControllerOf(refs); !ok || ctrl.Name != "w" || ctrl.UID != "u1" {
		t.Errorf("ControllerOf(%+v) = %+v, %v", refs, ctrl, ok)
	}
}

func TestObject_SetMetadata(t *testing.T) {
	o := NewObject("v1", "ConfigMap", "", "x")
	o.SetNamespace("d")
	o.SetLabels(map[string]string{"a": "b"})
	o.SetAnnotations(map[string]string{"c": "d"})
	o.SetResourceVersion("7")
	o.SetFinalizers([]string{"example.com/f"})
	o.SetOwnerReferences([]OwnerReference{ControllerReference(NewObject("demo.wasm.io/v1", "Widget", "d", "w"))})
	want := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{"c":"d"},"finalizers":["example.com/f"],` +
		`"labels":{"a":"b"},"name":"x","namespace":"d","ownerReferences":[{"apiVersion":"demo.wasm.io/v1",` +
		`"blockOwnerDeletion":true,"controller":true,"kind":"Widget","name":"w","uid":""}],"resourceVersion":"7"}}`
	if got := mustJSON(t, o); got != want {
		t.Errorf("object =\n %s\nwant\n %s", got, want)
	}

	// Setting nothing removes the fields.
	o.SetLabels(nil)
	o.SetAnnotations(map[string]string{})
	o.SetResourceVersion("")
	o.SetFinalizers(nil)
	o.SetOwnerReferences(nil)
	if got, want := mustJSON(t, o), `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"d"}}`; got != want {
		t.Errorf("after clearing =\n %s\nwant\n %s", got, want)
	}
}

func TestObject_Nested(t *testing.T) {
	o := decodeObject(t, configMapJSON)
	if v, ok := o.NestedInt64("spec", "replicas"); !ok || v != 3 {
		t.Errorf("NestedInt64(spec.replicas) = %d, %v", v, ok)
	}
	if _, ok := o.NestedInt64("spec", "ratio"); ok {
		t.Errorf("NestedInt64(spec.ratio) is a fraction but ok")
	}
	if v, ok := o.NestedFloat64("spec", "ratio"); !ok || v != 0.5 {
		t.Errorf("NestedFloat64(spec.ratio) = %v, %v", v, ok)
	}
	if v, ok := o.NestedBool("spec", "enabled"); !ok || !v {
		t.Errorf("NestedBool(spec.enabled) = %v, %v", v, ok)
	}
	if v, ok := o.NestedSlice("spec", "ports"); !ok || len(v) != 2 {
		t.Errorf("NestedSlice(spec.ports) = %v, %v", v, ok)
	}
	if v, ok := o.NestedStringMap("data"); !ok || !reflect.DeepEqual(v, map[string]string{"a": "1"}) {
		t.Errorf("NestedStringMap(data) = %v, %v", v, ok)
	}
	if _, ok := o.NestedStringMap("spec"); ok {
		t.Errorf("NestedStringMap(spec) holds non-strings but ok")
	}
	if _, ok := o.NestedString("metadata", "name", "deeper"); ok {
		t.Errorf("NestedString through a string is ok")
	}
	if _, ok := o.NestedString("missing"); ok {
		t.Errorf("NestedString(missing) is ok")
	}

	if err := o.SetNestedField(int(5), "status", "readyReplicas"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetNestedField(map[string]string{"b": "2"}, "data"); err != nil {
		t.Fatal(err)
	}
	type cond struct {
		Type string `json:"type"`
	}
	if err := o.SetNestedField([]cond{{Type: "Ready"}}, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if v, ok := o.NestedInt64("status", "readyReplicas"); !ok || v != 5 {
		t.Errorf("readyReplicas = %d, %v", v, ok)
	}
	if v, ok := o.NestedStringMap("data"); !ok || !reflect.DeepEqual(v, map[string]string{"b": "2"}) {
		t.Errorf("data = %v, %v", v, ok)
	}
	if v, ok := o.NestedString("status", "conditions"); ok {
		t.Errorf("conditions is a string: %v", v)
	}
	if s, ok := o.NestedSlice("status", "conditions"); !ok || !reflect.DeepEqual(s, []any{map[string]any{"type": "Ready"}}) {
		t.Errorf("conditions = %#v, %v", s, ok)
	}
	o.RemoveNestedField("status", "readyReplicas")
	if _, ok := o.NestedField("status", "readyReplicas"); ok {
		t.Errorf("readyReplicas not removed")
	}
	if err := o.SetNestedField("x"); err == nil {
		t.Errorf("SetNestedField without a path succeeded")
	}
}

func TestObject_IntoAndFrom(t *testing.T) {
	type configMap struct {
		TypeMeta `json:",inline"`
		Metadata ObjectMeta        `json:"metadata"`
		Data     map[string]string `json:"data,omitempty"`
	}
	o := decodeObject(t, configMapJSON)
	var cm configMap
	if err := o.Into(&cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Metadata.Name != "settings" || cm.Metadata.Generation != 9007199254740993 ||
		cm.Data["a"] != "1" || !cm.Metadata.CreationTimestamp.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Into = %+v", cm)
	}

	back, err := ObjectFrom(cm)
	if err != nil {
		t.Fatal(err)
	}
	if back.GetName() != "settings" || back.GetGeneration() != 9007199254740993 || back.GetLabels()["wasm.io/replicate"] != "true" {
		t.Errorf("ObjectFrom = %s", mustJSON(t, back))
	}
	if same, _ := ObjectFrom(o); same != o {
		t.Errorf("ObjectFrom(*Object) did not return it")
	}
	if _, err := ObjectFrom([]string{"not", "an", "object"}); err == nil {
		t.Errorf("ObjectFrom(list) succeeded")
	}
}

func TestObject_DeepCopy(t *testing.T) {
	o := decodeObject(t, configMapJSON)
	c := o.DeepCopy()
	c.SetName("other")
	if err := c.SetNestedField("80", "spec", "ports"); err != nil {
		t.Fatal(err)
	}
	if o.GetName() != "settings" {
		t.Errorf("copy shares metadata")
	}
	if s, _ := o.NestedSlice("spec", "ports"); len(s) != 2 {
		t.Errorf("copy shares spec")
	}
}

func TestObject_Zero(t *testing.T) {
	var o Object
	if o.GetName() != "" || o.GetLabels() != nil {
		t.Errorf("zero object has content")
	}
	o.SetName("x")
	if got := mustJSON(t, &o); got != `{"metadata":{"name":"x"}}` {
		t.Errorf("zero object after SetName = %s", got)
	}
	var nilObj *Object
	if got, err := nilObj.MarshalJSON(); err != nil || string(got) != `{}` {
		t.Errorf("nil object = %s, %v", got, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
