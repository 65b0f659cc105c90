package host

import (
	"fmt"

	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// TestOwnerMapping_Keys: enqueueOwner wakes the owners of its kind named by
// the object's ownerReferences (the controller only, unless all), matching
// the group whatever the version, in the object's namespace for a
// namespaced kind; on MODIFIED the old state's owners too.
func TestOwnerMapping_Keys(t *testing.T) {
	yes, no := true, false
	ref := func(apiVersion, kind, name string, controller *bool) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("u-" + name), Controller: controller}
	}
	owned := func(refs ...metav1.OwnerReference) *unstructured.Unstructured {
		u := configMap("child", nil, nil)
		u.SetOwnerReferences(refs)
		return u
	}
	deployments := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	tests := []struct {
		name     string
		mapping  ownerMapping
		obj, old *unstructured.Unstructured
		want     []string
	}{
		{name: "the controller, not the others", mapping: ownerMapping{kind: deployments, namespaced: true},
			obj:  owned(ref("apps/v1", "Deployment", "other", &no), ref("apps/v1", "Deployment", "web", &yes)),
			want: []string{"ns/web"}},
		{name: "the controller when it is not first", mapping: ownerMapping{kind: deployments, namespaced: true},
			obj:  owned(ref("v1", "ConfigMap", "cm", nil), ref("apps/v1beta2", "Deployment", "web", &yes)),
			want: []string{"ns/web"}},
		{name: "every owner of the kind", mapping: ownerMapping{kind: deployments, namespaced: true, all: true},
			obj:  owned(ref("apps/v1", "Deployment", "a", nil), ref("apps/v1", "Deployment", "b", &yes), ref("apps/v1", "StatefulSet", "c", &no)),
			want: []string{"ns/a", "ns/b"}},
		{name: "another group's kind of the same name", mapping: ownerMapping{kind: deployments, namespaced: true},
			obj: owned(ref("example.com/v1", "Deployment", "web", &yes))},
		{name: "no owners", mapping: ownerMapping{kind: deployments, namespaced: true}, obj: owned()},
		{name: "a cluster-scoped owner", mapping: ownerMapping{kind: schema.GroupKind{Kind: "Node"}},
			obj: owned(ref("v1", "Node", "n1", &yes)), want: []string{"n1"}},
		{name: "moved to another owner: both", mapping: ownerMapping{kind: deployments, namespaced: true},
			obj: owned(ref("apps/v1", "Deployment", "new", &yes)), old: owned(ref("apps/v1", "Deployment", "old", &yes)),
			want: []string{"ns/new", "ns/old"}},
		{name: "same owner before and after: once", mapping: ownerMapping{kind: deployments, namespaced: true},
			obj: owned(ref("apps/v1", "Deployment", "web", &yes)), old: owned(ref("apps/v1", "Deployment", "web", &yes)),
			want: []string{"ns/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.mapping.keys(tt.obj, tt.old)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWatch_EnqueueOwner: a watch with enqueueOwner wakes owners on events,
// after wakeWhen, and at start and resync.
func TestWatch_EnqueueOwner(t *testing.T) {
	w := testWatch(t, configMaps, "eventType != 'ADDED'")
	w.owner = &ownerMapping{kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, namespaced: true}
	yes := true
	child := configMap("child", nil, nil)
	child.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Controller: &yes}})
	got, err := decide(t.Context(), w, newEvent("DELETED", child, nil))
	if err != nil || !cmp.Equal(got, []string{"ns/web"}) {
		t.Errorf("DELETED woke %v, %v; want [ns/web]", got, err)
	}
	if got, _ := decide(t.Context(), w, newEvent("ADDED", child, nil)); got != nil {
		t.Errorf("ADDED woke %v through a rule that skips it", got)
	}
	if got, err := w.resyncKeys(t.Context(), child); err != nil || !cmp.Equal(got, []string{"ns/web"}) {
		t.Errorf("resync woke %v, %v; want [ns/web]", got, err)
	}
	noRules := testWatch(t, configMaps, "")
	noRules.owner = w.owner
	c := testController(t, newTestServices(testServices{}), "owners")
	c.deliver(noRules, newEvent("MODIFIED", child, child))
	if got := queued(c); !cmp.Equal(got, []string{"ns/web"}) {
		t.Errorf("an event through a watch with no rules woke %v, want [ns/web]", got)
	}
}

// BenchmarkOwnerMapping_ManyOwners is an object naming 10,000 owners of the
// watched kind (a tenant can write that many), with allOwners: the cost
// stays linear in the references.
func BenchmarkOwnerMapping_ManyOwners(b *testing.B) {
	refs := make([]metav1.OwnerReference, 10000)
	for i := range refs {
		refs[i] = metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: fmt.Sprint("d", i), UID: types.UID(fmt.Sprint(i))}
	}
	obj := configMap("child", nil, nil)
	obj.SetOwnerReferences(refs)
	m := ownerMapping{kind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, namespaced: true, all: true}
	for b.Loop() {
		if n := len(m.keys(obj, obj)); n != len(refs) {
			b.Fatalf("%d keys, want %d", n, len(refs))
		}
	}
}
