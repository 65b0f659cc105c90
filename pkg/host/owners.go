package host

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ownerMapping is a compiled spec.watches[].enqueueOwner: the owners of one
// kind that an object's event wakes instead of the object.
type ownerMapping struct {
	kind schema.GroupKind
	// all wakes every owner of the kind; otherwise only the controller.
	all bool
	// namespaced says owners of the kind live in a namespace: the owned
	// object's, as Kubernetes requires. Owners of a cluster-scoped kind
	// are keyed by name alone.
	namespaced bool
}

// keys returns the keys of the owners obj names, and old's, without
// repeats: an update that moves an object to another owner wakes both. It
// runs on the informer's goroutine over references anyone who can write
// the object sets, so it stays linear in them.
func (m *ownerMapping) keys(obj, old *unstructured.Unstructured) []string {
	var keys []string
	var seen map[string]struct{}
	for _, u := range []*unstructured.Unstructured{obj, old} {
		if u == nil {
			continue
		}
		for _, ref := range u.GetOwnerReferences() {
			if ref.Kind != m.kind.Kind || ref.Name == "" || (!m.all && (ref.Controller == nil || !*ref.Controller)) {
				continue
			}
			if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != m.kind.Group {
				continue
			}
			key := ref.Name
			if m.namespaced && u.GetNamespace() != "" {
				key = u.GetNamespace() + "/" + ref.Name
			}
			if _, dup := seen[key]; dup {
				continue
			}
			if seen == nil {
				seen = map[string]struct{}{}
			}
			seen[key] = struct{}{}
			keys = append(keys, key)
		}
	}
	return keys
}
