package proxy

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// continueToken is where a LIST from the cache goes on: after the object
// with this namespace and name, in key order. It is opaque to guests.
type continueToken struct {
	Namespace string `json:"ns,omitempty"`
	Name      string `json:"name"`
}

func (c continueToken) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var c continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err == nil && c.Name == "" {
		err = fmt.Errorf("no name")
	}
	return c, err
}

func compareKeys(a, b *unstructured.Unstructured) int {
	return cmp.Or(strings.Compare(a.GetNamespace(), b.GetNamespace()), strings.Compare(a.GetName(), b.GetName()))
}

// list answers a LIST of objects of kind from the cache of inf: the objects
// the view shows that pass the label and field selectors, in key order as the API server
// lists them, a page of limit objects at a time when limit is set. The body
// is encoded object by object and given up with 413 once it would pass
// maxBody.
func (v *CacheView) list(inf cache.SharedIndexInformer, kind string, p apiPath, q url.Values, vis visibility) *abi.APIResponse {
	lsel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return status(http.StatusBadRequest, "BadRequest", "labelSelector: "+err.Error())
	}
	fsel, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return status(http.StatusBadRequest, "BadRequest", "fieldSelector: "+err.Error())
	}
	limit := 0
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 0 {
			return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf("limit %q is not a number of objects", s))
		}
	}
	var after *continueToken
	if s := q.Get("continue"); s != "" {
		c, err := decodeContinue(s)
		if err != nil {
			return status(http.StatusBadRequest, "BadRequest", "continue: not a token of an earlier list from this cache")
		}
		after = &c
	}
	var objs []any
	if p.Namespace != "" {
		objs, err = inf.GetIndexer().ByIndex(cache.NamespaceIndex, p.Namespace)
		if err != nil {
			return status(http.StatusInternalServerError, "InternalError", err.Error())
		}
	} else {
		objs = inf.GetStore().List()
	}
	matched := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		if after != nil && cmp.Or(strings.Compare(u.GetNamespace(), after.Namespace), strings.Compare(u.GetName(), after.Name)) <= 0 {
			continue
		}
		if set := labels.Set(u.GetLabels()); !MatchesLabels(u, set, lsel, fsel) || !vis.showsLabelled(u, set) {
			continue
		}
		matched = append(matched, u)
	}
	slices.SortFunc(matched, compareKeys)
	meta := map[string]any{"resourceVersion": inf.LastSyncResourceVersion()}
	if limit > 0 && len(matched) > limit {
		last := matched[limit-1]
		meta["continue"] = continueToken{Namespace: last.GetNamespace(), Name: last.GetName()}.encode()
		meta["remainingItemCount"] = len(matched) - limit
		matched = matched[:limit]
	}
	out := newBoundedBuffer(maxBody)
	if err := encodeList(out, p, kind, meta, matched); err != nil {
		return encodingFailed(err)
	}
	return out.response()
}

// encodeList writes a List object, one item at a time.
func encodeList(out *boundedBuffer, p apiPath, kind string, meta map[string]any, items []*unstructured.Unstructured) error {
	head, err := json.Marshal(map[string]any{
		"apiVersion": p.Resource.GroupVersion().String(),
		"kind":       kind + "List",
		"metadata":   meta,
	})
	if err != nil {
		return err
	}
	// {"apiVersion":...,"metadata":{...}} becomes {...,"items":[...]}.
	if err := out.writeString(string(head[:len(head)-1]) + `,"items":[`); err != nil {
		return err
	}
	for i, u := range items {
		if i > 0 {
			if err := out.writeString(","); err != nil {
				return err
			}
		}
		if err := out.writeJSON(u.Object); err != nil {
			return err
		}
	}
	return out.writeString("]}")
}
