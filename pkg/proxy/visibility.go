package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// visibility is which objects of a resource a read may show: every object
// in the request's scope (all), or those that one of the view's watches of
// the resource selects.
type visibility struct {
	all      bool
	resource schema.GroupVersionResource
	watches  []CachedWatch
}

// visibility returns what the controller's watches let a read of p show.
func (v *CacheView) visibility(p apiPath) visibility {
	for i := range v.watches {
		if w := &v.watches[i]; w.Key.Resource == p.Resource && w.selectsAll(p) {
			return visibility{all: true}
		}
	}
	return visibility{resource: p.Resource, watches: v.watches}
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
	for i := range vis.watches {
		if w := &vis.watches[i]; w.Key.Resource == vis.resource && w.selects(u, set) {
			return true
		}
	}
	return false
}

// filterRequest refuses what an uncached read narrowed by the watches
// cannot answer: a LIST in pages. The API server's pages, their continue
// tokens (which carry the key of the page's last object) and its count of
// the items left describe every object, shown or not, and filtering a page
// could leave it empty with more to come.
func (vis visibility) filterRequest(p apiPath, q url.Values) *abi.APIResponse {
	if vis.all || p.Name != "" || (q.Get("limit") == "" && q.Get("continue") == "") {
		return nil
	}
	return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf(
		"limit and continue are not served on an uncached LIST of %s: its watches select some of its objects; "+
			"list from the cache, which pages, or without limit", p.Resource.GroupResource()))
}

// filterResponse narrows an answer of the API server to a read of p to the
// objects the read may show: an object it may not is not found, and a list
// loses the items it may not show. The items kept are passed on as the API
// server wrote them.
func (vis visibility) filterResponse(p apiPath, resp *abi.APIResponse) *abi.APIResponse {
	if vis.all || resp.Status != http.StatusOK || len(resp.Body) == 0 {
		return resp
	}
	if p.Name != "" {
		u, err := decodeObject(resp.Body)
		if err != nil {
			return badGateway(err)
		}
		if !vis.shows(u) {
			return notFound(p)
		}
		return resp
	}
	var list map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return badGateway(err)
	}
	var items []json.RawMessage
	if raw, ok := list["items"]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return badGateway(err)
		}
	}
	kept := items[:0]
	for _, item := range items {
		u, err := decodeObject(item)
		if err != nil {
			return badGateway(err)
		}
		if vis.shows(u) {
			kept = append(kept, item)
		}
	}
	if len(kept) == len(items) {
		return resp
	}
	var err error
	if list["items"], err = json.Marshal(kept); err != nil {
		return encodingFailed(err)
	}
	body, err := json.Marshal(list)
	if err != nil {
		return encodingFailed(err)
	}
	resp.Body = body
	return resp
}

// decodeObject decodes an object of the API server's, keeping its numbers
// as written, so that a field selector on one compares what the cache's
// decoding of the same object would.
func decodeObject(b []byte) (*unstructured.Unstructured, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("not an object")
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

func badGateway(err error) *abi.APIResponse {
	return status(http.StatusBadGateway, "InternalError", "decoding the API server's response: "+err.Error())
}

// notFound answers a GET of an object the cache does not hold or the view
// does not show, alike: reads tell a guest nothing of objects outside its
// watches.
func notFound(p apiPath) *abi.APIResponse {
	return status(http.StatusNotFound, "NotFound", fmt.Sprintf("%s %q not found", p.Resource.GroupResource(), p.Name))
}
