package proxy

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// CachedWatch is one watch a controller declared in spec.watches, as its
// view serves it.
type CachedWatch struct {
	// Key names the watch's shared informer in the InformerPool.
	Key InformerKey
	// Kind is the kind of the resource, for the kind of LIST answers.
	Kind string
	// Labels and Fields are the watch's selectors: the view shows a guest
	// only the objects some watch of their resource and namespace selects.
	// Nil selects every object.
	Labels labels.Selector
	Fields fields.Selector
}

// selects says whether the watch covers the object, whose labels are set.
func (w *CachedWatch) selects(u *unstructured.Unstructured, set labels.Set) bool {
	return (w.Key.Namespace == "" || w.Key.Namespace == u.GetNamespace()) && MatchesLabels(u, set, w.Labels, w.Fields)
}

// selectsAll says whether the watch covers every object in a request's scope.
func (w *CachedWatch) selectsAll(p apiPath) bool {
	return (w.Key.Namespace == "" || w.Key.Namespace == p.Namespace) && w.Labels.Empty() && w.Fields.Empty()
}

// CacheView serves a guest's reads from the shared informers it declared,
// after checking its ServiceAccount may read them, and passes everything
// else to the API server as that ServiceAccount.
//
// Reads of resources the controller did not declare are refused with 403,
// naming the missing watch. Reads of declared resources show only the
// objects the watches' selectors select, as an informer with those
// selectors would: any other object is not found. A read with the header "Cache-Control:
// no-cache" bypasses the cache (read-your-writes) and is counted. The cache
// holds objects, so it serves GETs of an object and of its status, and no
// other subresource.
type CacheView struct {
	controller string // namespace/name, for metrics
	user       string
	watches    []CachedWatch
	informers  *InformerPool
	authz      *Authorizer
	apiServer  *Passthrough
	metrics    *Metrics
}

// NewCacheView returns the view of the controller namespace/name whose
// guests run as user, reading its watches from the informers of the pool.
// It counts the guests' requests in m, which may be nil.
//
// # Notes
//
// The view holds no reference to the informers: whoever subscribed the
// controller's watches keeps them running while its guests run. A read of a
// watch whose informer no longer runs is answered 503.
func NewCacheView(controller, user string, watches []CachedWatch, informers *InformerPool, authz *Authorizer, apiServer *Passthrough,
	m *Metrics) *CacheView {
	own := make([]CachedWatch, len(watches))
	for i, w := range watches {
		if w.Labels == nil {
			w.Labels = labels.Everything()
		}
		if w.Fields == nil {
			w.Fields = fields.Everything()
		}
		own[i] = w
	}
	return &CacheView{controller: controller, user: user, watches: own, informers: informers, authz: authz, apiServer: apiServer,
		metrics: m}
}

// ServeAPI implements runtime.APIHandler.
func (v *CacheView) ServeAPI(ctx context.Context, req *abi.APIRequest) *abi.APIResponse {
	gr, resp := checkRequest(req)
	if resp != nil {
		return resp
	}
	if gr.method != http.MethodGet {
		v.metrics.countRequest(v.controller, sourceAPIServer)
		return v.apiServer.serve(ctx, gr)
	}
	p := gr.path
	w := v.watchFor(p)
	if w == nil {
		scope := "in all namespaces"
		if p.Namespace != "" {
			scope = fmt.Sprintf("in namespace %q", p.Namespace)
		}
		return status(http.StatusForbidden, "Forbidden", fmt.Sprintf(
			"%s %s is not watched by this WasmController: add a watch for it to spec.watches to read it",
			p.Resource.GroupResource(), scope))
	}
	if p.Subresource != "" && p.Subresource != "status" {
		return status(http.StatusNotFound, "NotFound", fmt.Sprintf(
			"%s %q: reads of the subresource %q are not served to guests; the cache holds objects and their status",
			p.Resource.GroupResource(), p.Name, p.Subresource))
	}
	verb := "list"
	if p.Name != "" {
		verb = "get"
	}
	if resp := v.authorize(ctx, verb, p); resp != nil {
		return resp
	}
	vis := v.visibility(p)
	if gr.noCache {
		if resp := vis.filterRequest(p, gr.query); resp != nil {
			return resp
		}
		v.metrics.countRequest(v.controller, sourceAPIServer)
		return vis.filterResponse(p, v.apiServer.serve(ctx, gr))
	}
	inf := v.informers.informer(w.Key)
	if inf == nil {
		return status(http.StatusServiceUnavailable, "ServiceUnavailable", fmt.Sprintf(
			"the cache of %s is not running: the controller is stopping", w.Key))
	}
	v.metrics.countRequest(v.controller, sourceCache)
	if p.Name != "" {
		return v.get(inf, p, vis)
	}
	return v.list(inf, w.Kind, p, gr.query, vis)
}

// watchFor finds the declared watch that covers a path's resource and scope.
func (v *CacheView) watchFor(p apiPath) *CachedWatch {
	for i := range v.watches {
		w := &v.watches[i]
		if w.Key.Resource == p.Resource && (w.Key.Namespace == "" || w.Key.Namespace == p.Namespace) {
			return w
		}
	}
	return nil
}

func (v *CacheView) authorize(ctx context.Context, verb string, p apiPath) *abi.APIResponse {
	allowed, err := v.authz.AllowedAccess(ctx, v.user, Access{Verb: verb, Resource: p.Resource, Namespace: p.Namespace, Name: p.Name})
	if err != nil {
		return status(http.StatusInternalServerError, "InternalError", "authorizing the read: "+err.Error())
	}
	if allowed {
		return nil
	}
	what := fmt.Sprintf("%s %q", p.Resource.Resource, p.Name)
	if p.Name == "" {
		what = p.Resource.Resource
	}
	where := "at the cluster scope"
	if p.Namespace != "" {
		where = fmt.Sprintf("in the namespace %q", p.Namespace)
	}
	return status(http.StatusForbidden, "Forbidden", fmt.Sprintf(
		"%s is forbidden: User %q cannot %s resource %q in API group %q %s",
		what, v.user, verb, p.Resource.Resource, p.Resource.Group, where))
}

func (v *CacheView) get(inf cache.SharedIndexInformer, p apiPath, vis visibility) *abi.APIResponse {
	key := p.Name
	if p.Namespace != "" {
		key = p.Namespace + "/" + p.Name
	}
	obj, exists, err := inf.GetIndexer().GetByKey(key)
	if err != nil {
		return status(http.StatusInternalServerError, "InternalError", err.Error())
	}
	if !exists {
		return notFound(p)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return status(http.StatusInternalServerError, "InternalError", fmt.Sprintf("the cache holds a %T", obj))
	}
	if !vis.shows(u) {
		return notFound(p)
	}
	out := newBoundedBuffer(maxBody)
	if err := out.writeJSON(u.Object); err != nil {
		return encodingFailed(err)
	}
	return out.response()
}
