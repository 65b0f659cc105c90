package proxy

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// WatchRBAC forgets every remembered answer whenever a Role, ClusterRole or
// one of their bindings changes, so that a grant or a revocation takes
// effect at once rather than when the answer expires; then it calls changed,
// when not nil, for whoever reacts to RBAC changes too. It watches until ctx
// is done and returns once its informers have stopped.
//
// # Notes
//
// The informers' first lists count as changes. changed runs on an informer's
// goroutine and must not block.
func (a *Authorizer) WatchRBAC(ctx context.Context, changed func()) {
	factory := kubeinformers.NewSharedInformerFactory(a.client, 0)
	onChange := func() {
		a.Forget()
		if changed != nil {
			changed()
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onChange() },
		UpdateFunc: func(any, any) { onChange() },
		DeleteFunc: func(any) { onChange() },
	}
	rbac := factory.Rbac().V1()
	for _, inf := range []cache.SharedIndexInformer{rbac.Roles().Informer(), rbac.RoleBindings().Informer(),
		rbac.ClusterRoles().Informer(), rbac.ClusterRoleBindings().Informer()} {
		// Only that something changed matters: keep names, not rules.
		if err := inf.SetTransform(keepNames); err != nil {
			klog.ErrorS(err, "Setting RBAC informer transform")
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			klog.ErrorS(err, "Watching RBAC changes")
		}
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

// keepNames replaces an RBAC object by its name, namespace and version.
func keepNames(obj any) (any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // a tombstone
	}
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: m.GetNamespace(), Name: m.GetName(), ResourceVersion: m.GetResourceVersion()}}, nil
}
