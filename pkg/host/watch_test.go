package host

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

func configMap(name string, labels map[string]string, data map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": data}}
	u.SetNamespace("ns")
	u.SetName(name)
	u.SetLabels(labels)
	u.SetOwnerReferences([]metav1.OwnerReference{{Name: "owner"}})
	return u
}

func TestWatch_Keys(t *testing.T) {
	c, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	labelled := map[string]string{"app": "a"}
	tests := []struct {
		name    string
		watch   v1alpha1.Watch
		typ     string
		obj     *unstructured.Unstructured
		old     *unstructured.Unstructured
		want    []string
		wantErr bool
	}{
		{name: "every event wakes its own key", typ: "ADDED", obj: configMap("cm", nil, nil), want: []string{"ns/cm"}},
		{name: "label selector excludes", watch: v1alpha1.Watch{LabelSelector: &metav1.LabelSelector{MatchLabels: labelled}},
			typ: "ADDED", obj: configMap("cm", nil, nil)},
		{name: "label selector admits", watch: v1alpha1.Watch{LabelSelector: &metav1.LabelSelector{MatchLabels: labelled}},
			typ: "ADDED", obj: configMap("cm", labelled, nil), want: []string{"ns/cm"}},
		{name: "losing the label still wakes", watch: v1alpha1.Watch{LabelSelector: &metav1.LabelSelector{MatchLabels: labelled}},
			typ: "MODIFIED", obj: configMap("cm", nil, nil), old: configMap("cm", labelled, nil), want: []string{"ns/cm"}},
		{name: "field selector on a nested field", watch: v1alpha1.Watch{FieldSelector: "data.mode=on"},
			typ: "ADDED", obj: configMap("cm", nil, map[string]any{"mode": "on"}), want: []string{"ns/cm"}},
		{name: "field selector on a missing field", watch: v1alpha1.Watch{FieldSelector: "data.mode=on"},
			typ: "ADDED", obj: configMap("cm", nil, nil)},
		{name: "wakeWhen false", watch: v1alpha1.Watch{WakeWhen: "object.data.x != oldObject.data.x"},
			typ: "MODIFIED", obj: configMap("cm", nil, map[string]any{"x": "1"}), old: configMap("cm", nil, map[string]any{"x": "1"})},
		{name: "wakeWhen true", watch: v1alpha1.Watch{WakeWhen: "object.data.x != oldObject.data.x"},
			typ: "MODIFIED", obj: configMap("cm", nil, map[string]any{"x": "2"}), old: configMap("cm", nil, map[string]any{"x": "1"}), want: []string{"ns/cm"}},
		{name: "wakeWhen error", watch: v1alpha1.Watch{WakeWhen: "object.data.x == '1'"},
			typ: "ADDED", obj: configMap("cm", nil, nil), wantErr: true},
		{name: "DELETED: object is the last state, oldObject null", watch: v1alpha1.Watch{WakeWhen: "eventType == 'DELETED' && oldObject == null && object.data.x == '1'"},
			typ: "DELETED", obj: configMap("cm", nil, map[string]any{"x": "1"}), want: []string{"ns/cm"}},
		{name: "DELETED: a field of the null oldObject fails", watch: v1alpha1.Watch{WakeWhen: "object.data.x != oldObject.data.x"},
			typ: "DELETED", obj: configMap("cm", nil, map[string]any{"x": "1"}), wantErr: true},
		{name: "ADDED: a field of the null oldObject fails", watch: v1alpha1.Watch{WakeWhen: "object.data.x != oldObject.data.x"},
			typ: "ADDED", obj: configMap("cm", nil, map[string]any{"x": "1"}), wantErr: true},
		{name: "ADDED: guarded for creation", watch: v1alpha1.Watch{WakeWhen: "oldObject == null || object.data.x != oldObject.data.x"},
			typ: "ADDED", obj: configMap("cm", nil, map[string]any{"x": "1"}), want: []string{"ns/cm"}},
		{name: "enqueue maps to the owner", watch: v1alpha1.Watch{Enqueue: "object.metadata.namespace + '/' + object.metadata.ownerReferences[0].name"},
			typ: "DELETED", obj: configMap("cm", nil, nil), want: []string{"ns/owner"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := compileWatch(0, &tt.watch, gvr, true, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decide(t.Context(), w, newEvent(tt.typ, tt.obj, tt.old))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAsUnstructured(t *testing.T) {
	cm := configMap("cm", nil, nil)
	if u, ok := asUnstructured(cache.DeletedFinalStateUnknown{Key: "ns/cm", Obj: cm}); !ok || u != cm {
		t.Errorf("tombstone not unwrapped")
	}
	if _, ok := asUnstructured("not an object"); ok {
		t.Errorf("a string was taken for an object")
	}
}

// TestWatch_KeysShareEvent: the watches of one informer decide on the same
// event, whose labels are read once; each still sees the labels of both
// the object and its old state, whatever the others selected.
func TestWatch_KeysShareEvent(t *testing.T) {
	c, err := wakerule.NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	compile := func(sel map[string]string) *watch {
		t.Helper()
		var w v1alpha1.Watch
		if sel != nil {
			w.LabelSelector = &metav1.LabelSelector{MatchLabels: sel}
		}
		cw, err := compileWatch(0, &w, gvr, true, c)
		if err != nil {
			t.Fatal(err)
		}
		return cw
	}
	// Moved from app=a to app=b.
	e := newEvent("MODIFIED", configMap("cm", map[string]string{"app": "b"}, nil), configMap("cm", map[string]string{"app": "a"}, nil))
	for _, tt := range []struct {
		sel  map[string]string
		want []string
	}{
		{nil, []string{"ns/cm"}},
		{map[string]string{"app": "b"}, []string{"ns/cm"}},
		{map[string]string{"app": "a"}, []string{"ns/cm"}}, // lost the label: still woken
		{map[string]string{"app": "c"}, nil},
	} {
		got, err := decide(t.Context(), compile(tt.sel), e)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("selector %v: keys (-want +got):\n%s", tt.sel, diff)
		}
	}
}

// decide is what the host decides for an event: the selectors, then the
// rules.
func decide(ctx context.Context, w *watch, e *event) ([]string, error) {
	if !w.selects(e) {
		return nil, nil
	}
	return w.keys(ctx, e)
}
