package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// grantsAnnotation holds, on the names the RBAC informers keep, a digest of
// what an object grants: rules, aggregation rule, subjects and role.
const grantsAnnotation = "wasm-apiserver.internal/grants"

// WatchRBAC invalidates the remembered answers an RBAC change may alter
// whenever a Role, ClusterRole or one of their bindings changes, so that a
// grant or a revocation takes effect at once rather than when the answer
// expires: a Role's or RoleBinding's those about its namespace, a
// ClusterRole's or ClusterRoleBinding's all of them. An update that leaves
// what the object grants unchanged (labels, annotations) changes nothing.
// After each change it calls changed, when not nil, for whoever reacts to
// RBAC changes too. It watches until ctx is done and returns once its
// informers have stopped.
//
// # Notes
//
// The informers' first lists count as changes. changed runs on an informer's
// goroutine and must not block.
func (a *Authorizer) WatchRBAC(ctx context.Context, changed func()) {
	factory := kubeinformers.NewSharedInformerFactory(a.client, 0)
	rbac := factory.Rbac().V1()
	for _, w := range []struct {
		informer   cache.SharedIndexInformer
		namespaced bool
	}{
		{rbac.Roles().Informer(), true},
		{rbac.RoleBindings().Informer(), true},
		{rbac.ClusterRoles().Informer(), false},
		{rbac.ClusterRoleBindings().Informer(), false},
	} {
		// Only that what an object grants changed matters: keep names and a
		// digest, not rules.
		if err := w.informer.SetTransform(keepNames); err != nil {
			klog.ErrorS(err, "Setting RBAC informer transform")
		}
		if _, err := w.informer.AddEventHandler(a.rbacHandler(w.namespaced, changed)); err != nil {
			klog.ErrorS(err, "Watching RBAC changes")
		}
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

// rbacHandler invalidates the answers a change to an object of one RBAC
// kind may alter, then calls changed.
func (a *Authorizer) rbacHandler(namespaced bool, changed func()) cache.ResourceEventHandler {
	onChange := func(obj any) {
		namespace := ""
		if namespaced {
			namespace = namespaceOf(obj)
		}
		if namespace == "" { // cluster-wide, or a namespaced object of unknown namespace
			a.Forget()
		} else {
			a.ForgetNamespace(namespace)
		}
		if changed != nil {
			changed()
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: onChange,
		UpdateFunc: func(oldObj, obj any) {
			if grants(oldObj) == "" || grants(oldObj) != grants(obj) {
				onChange(obj)
			}
		},
		DeleteFunc: onChange,
	}
}

// namespaceOf is the namespace of an RBAC object or of its tombstone, ""
// when it cannot be told.
func namespaceOf(obj any) string {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		namespace, _, err := cache.SplitMetaNamespaceKey(tombstone.Key)
		if err != nil {
			return ""
		}
		return namespace
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return m.GetNamespace()
}

// grants is the digest of what an object kept by keepNames grants, "" when
// unknown.
func grants(obj any) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return m.GetAnnotations()[grantsAnnotation]
}

// keepNames replaces an RBAC object by its name, namespace and version, and
// a digest of what it grants.
func keepNames(obj any) (any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // a tombstone
	}
	var granted any
	switch o := obj.(type) {
	case *rbacv1.Role:
		granted = o.Rules
	case *rbacv1.ClusterRole:
		granted = []any{o.Rules, o.AggregationRule}
	case *rbacv1.RoleBinding:
		granted = []any{o.Subjects, o.RoleRef}
	case *rbacv1.ClusterRoleBinding:
		granted = []any{o.Subjects, o.RoleRef}
	}
	kept := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: m.GetNamespace(), Name: m.GetName(), ResourceVersion: m.GetResourceVersion()}}
	if granted != nil {
		if b, err := json.Marshal(granted); err == nil {
			sum := sha256.Sum256(b)
			kept.Annotations = map[string]string{grantsAnnotation: base64.RawStdEncoding.EncodeToString(sum[:])}
		}
	}
	return kept, nil
}
