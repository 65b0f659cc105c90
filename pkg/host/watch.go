package host

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// watch is one compiled entry of spec.watches.
type watch struct {
	index int
	key   proxy.InformerKey
	// namespaced says the resource is namespaced; key.Namespace is empty
	// for a watch of every namespace and for a cluster-scoped resource.
	namespaced bool
	kind       string
	labels     labels.Selector
	fields     fields.Selector
	// wakeRule and enqueueRule are the compiled wakeWhen and enqueue; nil
	// when not set: every event wakes, for the object's own key.
	wakeRule    wakeRule
	enqueueRule enqueueRule
	// owner, when set, wakes the object's owners of a kind instead of the
	// object (enqueueOwner).
	owner *ownerMapping
}

// wakeRule and enqueueRule are what the host needs of compiled rules
// (*wakerule.Rule): a test stands in a slow one.
type (
	wakeRule interface {
		Wakes(context.Context, wakerule.Event) (bool, error)
	}
	enqueueRule interface {
		Keys(context.Context, wakerule.Event) ([]string, error)
	}
)

// compileWatch resolves the watch's resource and compiles its selectors
// and rules.
func compileWatch(i int, w *v1alpha1.Watch, gvr schema.GroupVersionResource, namespaced bool, c *wakerule.Compiler) (*watch, error) {
	out := &watch{index: i, key: proxy.InformerKey{Resource: gvr}, namespaced: namespaced, kind: w.Kind,
		labels: labels.Everything(), fields: fields.Everything()}
	if namespaced {
		out.key.Namespace = w.Namespace
	}
	var err error
	if w.LabelSelector != nil {
		if out.labels, err = metav1.LabelSelectorAsSelector(w.LabelSelector); err != nil {
			return nil, fmt.Errorf("labelSelector: %w", err)
		}
	}
	if w.FieldSelector != "" {
		if out.fields, err = fields.ParseSelector(w.FieldSelector); err != nil {
			return nil, fmt.Errorf("fieldSelector: %w", err)
		}
	}
	if w.WakeWhen != "" {
		if out.wakeRule, err = c.Compile(wakerule.WakeWhen, w.WakeWhen); err != nil {
			return nil, fmt.Errorf("wakeWhen: %w", err)
		}
	}
	if w.Enqueue != "" {
		if out.enqueueRule, err = c.Compile(wakerule.Enqueue, w.Enqueue); err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
	}
	return out, nil
}

// matches says whether an object, whose labels are set, passes the
// watch's selectors.
func (w *watch) matches(u *unstructured.Unstructured, set labels.Set) bool {
	return proxy.MatchesLabels(u, set, w.labels, w.fields)
}

// event is one informer event as the watches of its informer see it. The
// objects' labels are read once, for the first watch that selects on them,
// and shared by the others: one event can meet thousands of watches.
type event struct {
	typ        string
	obj, old   *unstructured.Unstructured // old: nil but on MODIFIED
	labelsRead bool
	objLabels  labels.Set
	oldLabels  labels.Set
}

func newEvent(typ string, obj, old *unstructured.Unstructured) *event {
	return &event{typ: typ, obj: obj, old: old}
}

func (e *event) readLabels() {
	if e.labelsRead {
		return
	}
	e.labelsRead = true
	e.objLabels = e.obj.GetLabels()
	if e.old != nil {
		e.oldLabels = e.old.GetLabels()
	}
}

// selects says whether an event concerns the watch: its object, or its
// old state, passes the selectors. It runs on the informer's goroutine,
// before any rule; it reads the event's labels (once for every watch).
func (w *watch) selects(e *event) bool {
	if !w.labels.Empty() {
		e.readLabels()
	}
	return w.matches(e.obj, e.objLabels) || (e.old != nil && w.matches(e.old, e.oldLabels))
}

// hasRules says whether deciding an event's keys runs CEL.
func (w *watch) hasRules() bool { return w.wakeRule != nil || w.enqueueRule != nil }

// keys decides which reconcile keys an event the watch selects wakes, if
// any, through its rules (the object's own key by default).
func (w *watch) keys(ctx context.Context, e *event) ([]string, error) {
	ev := wakerule.Event{Type: e.typ, Object: e.obj.Object}
	if e.old != nil {
		ev.OldObject = e.old.Object
	}
	if w.wakeRule != nil {
		wake, err := w.wakeRule.Wakes(ctx, ev)
		if err != nil || !wake {
			return nil, err
		}
	}
	if w.enqueueRule != nil {
		return w.enqueueRule.Keys(ctx, ev)
	}
	return w.ownKeys(e.obj, e.old)
}

// ownKeys are the keys an event wakes without an enqueue rule: the owners
// enqueueOwner names, else the object's own key.
func (w *watch) ownKeys(obj, old *unstructured.Unstructured) ([]string, error) {
	if w.owner != nil {
		return w.owner.keys(obj, old), nil
	}
	key, err := cache.MetaNamespaceKeyFunc(obj)
	return []string{key}, err
}

// resyncKeys returns the keys a resync wakes for a cached object: none if
// it fails the selectors, else what the enqueue rule maps it to (evaluated
// as a MODIFIED event of the object onto itself), or its owners, or its own
// key.
func (w *watch) resyncKeys(ctx context.Context, obj *unstructured.Unstructured) ([]string, error) {
	if !w.matches(obj, obj.GetLabels()) {
		return nil, nil
	}
	if w.enqueueRule != nil {
		return w.enqueueRule.Keys(ctx, wakerule.Event{Type: "MODIFIED", Object: obj.Object, OldObject: obj.Object})
	}
	return w.ownKeys(obj, nil)
}

// asUnstructured unwraps informer objects, including tombstones.
func asUnstructured(obj any) (*unstructured.Unstructured, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	return u, ok
}
