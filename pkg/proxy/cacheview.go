package proxy

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// CachedWatch is one informer a controller declared in spec.watches.
type CachedWatch struct {
	Key InformerKey
	// Kind is the kind of the resource, for the kind of LIST answers.
	Kind     string
	Informer cache.SharedIndexInformer
}

// CacheView serves a guest's reads from the shared informers it declared,
// after checking its ServiceAccount may read them, and passes everything
// else to the API server as that ServiceAccount.
//
// Reads of resources the controller did not declare are refused with 403,
// naming the missing watch. A read with the header "Cache-Control:
// no-cache" bypasses the cache (read-your-writes) and is counted.
type CacheView struct {
	controller string // namespace/name, for metrics
	user       string
	watches    []CachedWatch
	authz      *Authorizer
	apiServer  *Passthrough
}

// NewCacheView returns the view of the controller namespace/name whose
// guests run as user.
func NewCacheView(controller, user string, watches []CachedWatch, authz *Authorizer, apiServer *Passthrough) *CacheView {
	return &CacheView{controller: controller, user: user, watches: watches, authz: authz, apiServer: apiServer}
}

// ServeAPI implements runtime.APIHandler.
func (v *CacheView) ServeAPI(ctx context.Context, req *wasmruntime.APIRequest) *wasmruntime.APIResponse {
	if resp := refuse(req); resp != nil {
		return resp
	}
	if req.Method != http.MethodGet {
		guestRequests.WithLabelValues(v.controller, "apiserver").Inc()
		return v.apiServer.ServeAPI(ctx, req)
	}
	p, ok := parseAPIPath(req.Path)
	if !ok {
		return wasmruntime.StatusResponse(http.StatusNotFound, "NotFound", fmt.Sprintf("path %q is not a resource path", req.Path))
	}
	w := v.watchFor(p)
	if w == nil {
		scope := "in all namespaces"
		if p.Namespace != "" {
			scope = fmt.Sprintf("in namespace %q", p.Namespace)
		}
		return wasmruntime.StatusResponse(http.StatusForbidden, "Forbidden", fmt.Sprintf(
			"%s %s is not watched by this WasmController: add a watch for it to spec.watches to read it",
			p.Resource.GroupResource(), scope))
	}
	verb := "list"
	if p.Name != "" {
		verb = "get"
	}
	if resp := v.authorize(ctx, verb, p); resp != nil {
		return resp
	}
	if req.Headers["Cache-Control"] == "no-cache" {
		guestRequests.WithLabelValues(v.controller, "apiserver").Inc()
		return v.apiServer.ServeAPI(ctx, req)
	}
	guestRequests.WithLabelValues(v.controller, "cache").Inc()
	if p.Name != "" {
		return v.get(w, p)
	}
	return v.list(w, p, req.Query)
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

func (v *CacheView) authorize(ctx context.Context, verb string, p apiPath) *wasmruntime.APIResponse {
	allowed, err := v.authz.Allowed(ctx, v.user, verb, p.Resource, p.Namespace)
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusInternalServerError, "InternalError", "authorizing the read: "+err.Error())
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
	return wasmruntime.StatusResponse(http.StatusForbidden, "Forbidden", fmt.Sprintf(
		"%s is forbidden: User %q cannot %s resource %q in API group %q %s",
		what, v.user, verb, p.Resource.Resource, p.Resource.Group, where))
}

func (v *CacheView) get(w *CachedWatch, p apiPath) *wasmruntime.APIResponse {
	key := p.Name
	if p.Namespace != "" {
		key = p.Namespace + "/" + p.Name
	}
	obj, exists, err := w.Informer.GetIndexer().GetByKey(key)
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusInternalServerError, "InternalError", err.Error())
	}
	if !exists {
		return wasmruntime.StatusResponse(http.StatusNotFound, "NotFound", fmt.Sprintf("%s %q not found", p.Resource.GroupResource(), p.Name))
	}
	return encode(obj)
}

func (v *CacheView) list(w *CachedWatch, p apiPath, query string) *wasmruntime.APIResponse {
	q, _ := url.ParseQuery(query) // refuse already checked it parses
	lsel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusBadRequest, "BadRequest", "labelSelector: "+err.Error())
	}
	fsel, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusBadRequest, "BadRequest", "fieldSelector: "+err.Error())
	}
	var objs []any
	if p.Namespace != "" {
		objs, err = w.Informer.GetIndexer().ByIndex(cache.NamespaceIndex, p.Namespace)
		if err != nil {
			return wasmruntime.StatusResponse(http.StatusInternalServerError, "InternalError", err.Error())
		}
	} else {
		objs = w.Informer.GetStore().List()
	}
	matched := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		if u, ok := obj.(*unstructured.Unstructured); ok && Matches(u, lsel, fsel) {
			matched = append(matched, u)
		}
	}
	// In key order, as the API server lists.
	slices.SortFunc(matched, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(strings.Compare(a.GetNamespace(), b.GetNamespace()), strings.Compare(a.GetName(), b.GetName()))
	})
	items := make([]map[string]any, len(matched))
	for i, u := range matched {
		items[i] = u.Object
	}
	return encode(map[string]any{
		"apiVersion": p.Resource.GroupVersion().String(),
		"kind":       w.Kind + "List",
		"metadata":   map[string]any{"resourceVersion": w.Informer.LastSyncResourceVersion()},
		"items":      items,
	})
}

func encode(obj any) *wasmruntime.APIResponse {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		obj = u.Object
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusInternalServerError, "InternalError", "encoding: "+err.Error())
	}
	return &wasmruntime.APIResponse{Status: http.StatusOK, Body: b}
}
