package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
)

// accessRecheckDelay gathers a burst of RBAC changes (an apply of many
// Roles and bindings, the informers' initial lists) into one re-check of
// the running controllers' watches.
const accessRecheckDelay = 500 * time.Millisecond

// ReasonWatchForbidden is the WatchesReady reason of a controller whose
// ServiceAccount may not list or watch what one of its watches reads.
const ReasonWatchForbidden = "WatchForbidden"

// forbiddenWatchError says which watch the controller's ServiceAccount
// may not read, with which verb.
type forbiddenWatchError struct {
	index int
	verb  string
	user  string
	key   proxy.InformerKey
	// namespaced says the resource is namespaced: an empty namespace then
	// means every namespace, not a cluster-scoped resource.
	namespaced bool
}

func (e *forbiddenWatchError) Error() string {
	resource := e.key.Resource.Resource
	if g := e.key.Resource.Group; g != "" {
		resource += "." + g
	}
	scope := ""
	switch {
	case e.key.Namespace != "":
		scope = " in namespace " + e.key.Namespace
	case e.namespaced:
		scope = " in all namespaces"
	}
	return fmt.Sprintf("spec.watches[%d]: user %q may not %s %s%s", e.index, e.user, e.verb, resource, scope)
}

// isForbiddenWatch says whether err is a watch the controller may not read.
func isForbiddenWatch(err error) bool {
	_, ok := errors.AsType[*forbiddenWatchError](err)
	return ok
}

// authorizeWatches checks, as the controller's ServiceAccount, that it may
// list and watch what each of its watches reads, in the watch's namespace
// or, for a watch of a namespaced resource in every namespace, across the
// cluster. A controller is fed from informers the server runs as itself:
// without this check a watch would hand its ServiceAccount objects it may
// not read, through wake rules, enqueue keys and resyncs.
//
// # Errors
//
// *forbiddenWatchError for the first watch and verb refused; another error
// when the cluster could not be asked.
func (h *Host) authorizeWatches(ctx context.Context, wc *v1alpha1.WasmController, watches []*watch) error {
	user := proxy.ServiceAccountUser(wc.Namespace, wc.Spec.ServiceAccountName)
	for _, w := range watches {
		for _, verb := range [...]string{"list", "watch"} {
			ok, err := h.authorizer.Allowed(ctx, user, verb, w.key.Resource, w.key.Namespace)
			if err != nil {
				return fmt.Errorf("spec.watches[%d]: asking whether %q may %s %s: %w", w.index, user, verb, w.key, err)
			}
			if !ok {
				return &forbiddenWatchError{index: w.index, verb: verb, user: user, key: w.key, namespaced: w.namespaced}
			}
		}
	}
	return nil
}

// rbacChanged forgets the remembered answers of read checks and asks for
// the running controllers' watches to be checked again.
func (h *Host) rbacChanged() {
	h.authorizer.Forget()
	select {
	case h.accessChanged <- struct{}{}:
	default:
	}
}

// recheckAccessOnChange re-checks the controllers' watches after RBAC
// changes, debounced, until ctx is done.
func (h *Host) recheckAccessOnChange(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.accessChanged:
		}
		select {
		case <-ctx.Done():
			return
		case <-h.clock.After(accessRecheckDelay):
		}
		select { // changes during the delay are covered by this check
		case <-h.accessChanged:
		default:
		}
		h.recheckAccess(ctx)
	}
}

// recheckAccess checks the watches of every running controller again. A
// controller that lost the right to read one stops receiving events at
// once and is reloaded, which reports why it does not run. Controllers
// that were refused are loaded again, to run if they may now.
func (h *Host) recheckAccess(ctx context.Context) {
	h.mu.Lock()
	running := make([]*controller, 0, len(h.controllers))
	for _, c := range h.controllers {
		running = append(running, c)
	}
	refused := make([]string, 0, len(h.refused))
	for key := range h.refused {
		refused = append(refused, key)
	}
	h.mu.Unlock()
	for _, c := range running {
		err := h.authorizeWatches(ctx, c.wc, c.watches)
		if err == nil || !isForbiddenWatch(err) {
			continue // a failure to ask is not a refusal: the next change asks again
		}
		klog.InfoS("WasmController may no longer read what it watches; stopping its events", "wasmController", c.name, "reason", err.Error())
		c.revoked.Store(true)
		h.queue.Add(c.name)
	}
	for _, key := range refused {
		h.queue.Add(key)
	}
}

// noteRefusal remembers whether a controller's last load was refused for
// its watches, so that an RBAC change loads it again.
func (h *Host) noteRefusal(key string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil && isForbiddenWatch(err) {
		h.refused[key] = struct{}{}
		return
	}
	delete(h.refused, key)
}

// forgetAuthorizationOnRBACChange drops the remembered answers of guests'
// read checks whenever a Role, ClusterRole or binding changes, and checks
// the controllers' watches again, so that a grant or a revocation takes
// effect at once rather than when the answer expires. The informers run
// until ctx is done; the caller shuts the returned factory down.
func (h *Host) forgetAuthorizationOnRBACChange(ctx context.Context) kubeinformers.SharedInformerFactory {
	factory := kubeinformers.NewSharedInformerFactory(h.kube, 0)
	forget := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { h.rbacChanged() },
		UpdateFunc: func(any, any) { h.rbacChanged() },
		DeleteFunc: func(any) { h.rbacChanged() },
	}
	rbac := factory.Rbac().V1()
	for _, inf := range []cache.SharedIndexInformer{rbac.Roles().Informer(), rbac.RoleBindings().Informer(),
		rbac.ClusterRoles().Informer(), rbac.ClusterRoleBindings().Informer()} {
		// Only that something changed matters: keep names, not rules.
		_ = inf.SetTransform(func(obj any) (any, error) {
			m, err := meta.Accessor(obj)
			if err != nil {
				return obj, nil
			}
			return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Namespace: m.GetNamespace(), Name: m.GetName(), ResourceVersion: m.GetResourceVersion()}}, nil
		})
		_, _ = inf.AddEventHandler(forget)
	}
	factory.Start(ctx.Done())
	return factory
}
