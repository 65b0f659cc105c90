package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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

// rbacChanged asks for the running controllers' watches to be checked
// again; the authorizer has already forgotten the answers the change may
// alter.
func (h *Host) rbacChanged() {
	select {
	case h.accessChanged <- struct{}{}:
	default:
	}
}

// recheckAccessOnChange re-checks the controllers' watches after RBAC
// changes, debounced, until ctx is done. The authorizer watches RBAC and
// tells of each change once it has forgotten the answers it may alter, so
// that the re-check asks the cluster anew.
func (h *Host) recheckAccessOnChange(ctx context.Context) {
	var rbac sync.WaitGroup
	defer rbac.Wait()
	rbac.Go(func() { h.authorizer.WatchRBAC(ctx, h.rbacChanged) })
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
