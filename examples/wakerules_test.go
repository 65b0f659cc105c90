package examples

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// watches returns the watches of an example's WasmController.
func watches(t *testing.T, example string) []v1alpha1.Watch {
	t.Helper()
	objs := decodeAll(t, example+"/wasmcontroller.yaml")
	wc := &v1alpha1.WasmController{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, wc); err != nil {
		t.Fatal(err)
	}
	return wc.Spec.Watches
}

func obj(namespace, name string, labels, annotations map[string]any, extra map[string]any) map[string]any {
	meta := map[string]any{"name": name, "generation": int64(1)}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	if labels != nil {
		meta["labels"] = labels
	}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	o := map[string]any{"metadata": meta}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func TestWakeRules(t *testing.T) {
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]any{"wasm.io/replicate": "true"}
	copyLabels := map[string]any{"wasm.io/replicated-from": "team-a.app.settings"}
	target := map[string]any{"wasm.io/replicate-configmaps": "true"}
	ttl := map[string]any{"wasm.io/ttl": "30s"}
	gen := func(o map[string]any, g int64) map[string]any {
		o["metadata"].(map[string]any)["generation"] = g
		return o
	}
	child := map[string]any{"demo.wasm.io/widget": "w"}
	deployment := func(replicas, available int64) map[string]any {
		return obj("a", "d", nil, nil, map[string]any{
			"spec":   map[string]any{"replicas": replicas},
			"status": map[string]any{"availableReplicas": available},
		})
	}

	tests := []struct {
		name        string
		example     string
		watch       int
		event       string
		object, old map[string]any
		wantWake    bool
		wantEnqueue any // nil: the object's own key
	}{
		{name: "source added", example: "configmap-replicator", watch: 0, event: "ADDED", object: obj("a", "s", src, nil, nil), wantWake: true},
		{name: "source data changed", example: "configmap-replicator", watch: 0, event: "MODIFIED",
			object: obj("a", "s", src, nil, map[string]any{"data": map[string]any{"k": "2"}}),
			old:    obj("a", "s", src, nil, map[string]any{"data": map[string]any{"k": "1"}}), wantWake: true},
		{name: "source data set", example: "configmap-replicator", watch: 0, event: "MODIFIED",
			object: obj("a", "s", src, nil, map[string]any{"data": map[string]any{"k": "1"}}),
			old:    obj("a", "s", src, nil, nil), wantWake: true},
		{name: "source annotation changed", example: "configmap-replicator", watch: 0, event: "MODIFIED",
			object: obj("a", "s", src, map[string]any{"x": "1"}, nil), old: obj("a", "s", src, nil, nil), wantWake: false},
		{name: "source deleted", example: "configmap-replicator", watch: 0, event: "DELETED", object: obj("a", "s", src, nil, nil), wantWake: true},
		{name: "copy deleted maps to its source", example: "configmap-replicator", watch: 1, event: "DELETED",
			object: obj("b", "app.settings", copyLabels, nil, nil), wantWake: true, wantEnqueue: "team-a/app.settings"},
		{name: "copy added", example: "configmap-replicator", watch: 1, event: "ADDED",
			object: obj("b", "app.settings", copyLabels, nil, nil), wantWake: false, wantEnqueue: "team-a/app.settings"},
		{name: "target namespace added", example: "configmap-replicator", watch: 2, event: "ADDED", object: obj("", "b", target, nil, nil), wantWake: true},
		{name: "plain namespace added", example: "configmap-replicator", watch: 2, event: "ADDED", object: obj("", "b", nil, nil, nil), wantWake: false},
		{name: "namespace labelled", example: "configmap-replicator", watch: 2, event: "MODIFIED",
			object: obj("", "b", target, nil, nil), old: obj("", "b", nil, nil, nil), wantWake: true},
		{name: "namespace unlabelled", example: "configmap-replicator", watch: 2, event: "MODIFIED",
			object: obj("", "b", map[string]any{"other": "x"}, nil, nil), old: obj("", "b", target, nil, nil), wantWake: true},
		{name: "namespace otherwise modified", example: "configmap-replicator", watch: 2, event: "MODIFIED",
			object: obj("", "b", target, map[string]any{"x": "y"}, nil), old: obj("", "b", target, nil, nil), wantWake: false},
		{name: "namespace deleted", example: "configmap-replicator", watch: 2, event: "DELETED", object: obj("", "b", target, nil, nil), wantWake: false},

		{name: "ttl object added", example: "ttl-cleaner", watch: 0, event: "ADDED", object: obj("a", "x", nil, ttl, nil), wantWake: true},
		{name: "object without ttl added", example: "ttl-cleaner", watch: 0, event: "ADDED", object: obj("a", "x", nil, nil, nil), wantWake: false},
		{name: "ttl set", example: "ttl-cleaner", watch: 0, event: "MODIFIED", object: obj("a", "x", nil, ttl, nil), old: obj("a", "x", nil, nil, nil), wantWake: true},
		{name: "ttl unchanged", example: "ttl-cleaner", watch: 0, event: "MODIFIED",
			object: obj("a", "x", nil, ttl, map[string]any{"data": map[string]any{}}), old: obj("a", "x", nil, ttl, nil), wantWake: false},
		{name: "ttl object deleted", example: "ttl-cleaner", watch: 0, event: "DELETED", object: obj("a", "x", nil, ttl, nil), wantWake: false},

		{name: "widget added", example: "widget-controller", watch: 0, event: "ADDED", object: obj("a", "w", nil, nil, nil), wantWake: true},
		{name: "widget spec changed", example: "widget-controller", watch: 0, event: "MODIFIED",
			object: gen(obj("a", "w", nil, nil, nil), 2), old: obj("a", "w", nil, nil, nil), wantWake: true},
		{name: "widget status written", example: "widget-controller", watch: 0, event: "MODIFIED",
			object: obj("a", "w", nil, nil, map[string]any{"status": map[string]any{"readyReplicas": int64(1)}}), old: obj("a", "w", nil, nil, nil), wantWake: false},
		{name: "child deleted", example: "widget-controller", watch: 1, event: "DELETED",
			object: obj("a", "w-0", child, nil, nil), wantWake: true},
		{name: "child data changed", example: "widget-controller", watch: 1, event: "MODIFIED",
			object: obj("a", "w-0", child, nil, map[string]any{"data": map[string]any{"message": "x"}}),
			old:    obj("a", "w-0", child, nil, map[string]any{"data": map[string]any{"message": "y"}}), wantWake: true},
		{name: "child added", example: "widget-controller", watch: 1, event: "ADDED", object: obj("a", "w-0", child, nil, nil), wantWake: false},

		{name: "foo added", example: "sample-controller", watch: 0, event: "ADDED", object: obj("a", "f", nil, nil, nil), wantWake: true},
		{name: "foo spec changed", example: "sample-controller", watch: 0, event: "MODIFIED",
			object: gen(obj("a", "f", nil, nil, nil), 2), old: obj("a", "f", nil, nil, nil), wantWake: true},
		{name: "foo status written", example: "sample-controller", watch: 0, event: "MODIFIED",
			object: obj("a", "f", nil, nil, map[string]any{"status": map[string]any{"availableReplicas": int64(1)}}), old: obj("a", "f", nil, nil, nil), wantWake: false},
		{name: "deployment added", example: "sample-controller", watch: 1, event: "ADDED", object: deployment(1, 0), wantWake: true},
		{name: "deployment deleted", example: "sample-controller", watch: 1, event: "DELETED", object: deployment(1, 0), wantWake: true},
		{name: "deployment scaled", example: "sample-controller", watch: 1, event: "MODIFIED", object: deployment(3, 0), old: deployment(1, 0), wantWake: true},
		{name: "deployment replicas became available", example: "sample-controller", watch: 1, event: "MODIFIED", object: deployment(1, 1), old: deployment(1, 0), wantWake: true},
		{name: "deployment status written before any available", example: "sample-controller", watch: 1, event: "MODIFIED",
			object: deployment(1, 0), old: obj("a", "d", nil, nil, map[string]any{"spec": map[string]any{"replicas": int64(1)}}), wantWake: false},
		{name: "deployment otherwise modified", example: "sample-controller", watch: 1, event: "MODIFIED",
			object: deployment(1, 1), old: deployment(1, 1), wantWake: false},
	}
	for _, tt := range tests {
		t.Run(tt.example+"/"+tt.name, func(t *testing.T) {
			w := watches(t, tt.example)[tt.watch]
			vars := map[string]any{"object": tt.object, "oldObject": tt.old, "eventType": tt.event}
			if tt.old == nil {
				vars["oldObject"] = nil
			}
			if got := eval(t, compiler, wakerule.WakeWhen, w.WakeWhen, vars); got != tt.wantWake {
				t.Errorf("wakeWhen = %v, want %v", got, tt.wantWake)
			}
			if w.Enqueue == "" {
				if tt.wantEnqueue != nil {
					t.Errorf("no enqueue rule, want %v", tt.wantEnqueue)
				}
				return
			}
			if got := eval(t, compiler, wakerule.Enqueue, w.Enqueue, vars); !reflect.DeepEqual(got, tt.wantEnqueue) {
				t.Errorf("enqueue = %v, want %v", got, tt.wantEnqueue)
			}
		})
	}
}

func eval(t *testing.T, c *wakerule.Compiler, kind wakerule.Kind, expr string, vars map[string]any) any {
	t.Helper()
	rule, err := c.Compile(kind, expr)
	if err != nil {
		t.Fatalf("%s %q: %v", kind, expr, err)
	}
	out, _, err := rule.Program.Eval(vars)
	if err != nil {
		t.Fatalf("%s %q: %v", kind, expr, err)
	}
	return out.Value()
}
