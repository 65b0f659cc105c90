package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// visibility is which objects of a resource a read may show: every object
// in the request's scope, or those that one of the watches selects.
type visibility struct {
	all     bool
	watches []*CachedWatch
}

// visibility returns what the controller's watches let a read of p show.
func (v *CacheView) visibility(p apiPath) visibility {
	var out visibility
	for i := range v.watches {
		w := &v.watches[i]
		if w.Key.Resource != p.Resource {
			continue
		}
		if w.selectsAll(p) {
			return visibility{all: true}
		}
		if p.Namespace == "" || w.Key.Namespace == "" || w.Key.Namespace == p.Namespace {
			out.watches = append(out.watches, w)
		}
	}
	return out
}

// shows says whether a read may show the object.
func (vis visibility) shows(u *unstructured.Unstructured) bool {
	if vis.all {
		return true
	}
	return vis.showsLabelled(u, u.GetLabels())
}

// showsLabelled is shows for an object whose labels the caller has read.
func (vis visibility) showsLabelled(u *unstructured.Unstructured, set labels.Set) bool {
	if vis.all {
		return true
	}
	for _, w := range vis.watches {
		if w.selects(u, set) {
			return true
		}
	}
	return false
}

// filterResponse narrows an answer of the API server to a read of p to the
// objects the read may show: an object it may not is not found, and a list
// loses the items it may not show.
func (vis visibility) filterResponse(p apiPath, resp *abi.APIResponse) *abi.APIResponse {
	if vis.all || resp.Status != http.StatusOK || len(resp.Body) == 0 {
		return resp
	}
	var u unstructured.Unstructured
	if err := json.Unmarshal(resp.Body, &u.Object); err != nil {
		return status(http.StatusBadGateway, "InternalError", "decoding the API server's response: "+err.Error())
	}
	if p.Name != "" {
		if !vis.shows(&u) {
			return notFound(p)
		}
		return resp
	}
	items, _ := u.Object["items"].([]any)
	kept := items[:0]
	for _, item := range items {
		if m, ok := item.(map[string]any); ok && vis.shows(&unstructured.Unstructured{Object: m}) {
			kept = append(kept, item)
		}
	}
	if len(kept) == len(items) {
		return resp
	}
	u.Object["items"] = kept
	body, err := json.Marshal(u.Object)
	if err != nil {
		return encodingFailed(err)
	}
	resp.Body = body
	return resp
}

// notFound answers a GET of an object the cache does not hold or the view
// does not show, alike: a guest learns nothing of objects outside its
// watches.
func notFound(p apiPath) *abi.APIResponse {
	return status(http.StatusNotFound, "NotFound", fmt.Sprintf("%s %q not found", p.Resource.GroupResource(), p.Name))
}
