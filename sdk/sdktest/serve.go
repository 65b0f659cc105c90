package sdktest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// target is what a request path names.
type target struct {
	group, version, resource string
	namespace, name          string
	subresource              string
}

// parsePath splits /api/v1/... and /apis/<group>/<version>/... paths.
func parsePath(path string) (target, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var t target
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		t.version, segs = segs[1], segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		t.group, t.version, segs = segs[1], segs[2], segs[3:]
	default:
		return t, false
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		t.namespace, segs = segs[1], segs[2:]
	}
	switch len(segs) {
	case 3:
		t.subresource = segs[2]
		fallthrough
	case 2:
		t.name = segs[1]
		fallthrough
	case 1:
		t.resource = segs[0]
	default:
		return t, false
	}
	return t, t.resource != ""
}

func (t target) key() string { return key(t.group, t.resource, t.namespace, t.name) }

func (t target) apiVersion() string {
	if t.group == "" {
		return t.version
	}
	return t.group + "/" + t.version
}

func (c *Cluster) serve(req *sdk.APIRequest) *sdk.APIResponse {
	t, ok := parsePath(req.Path)
	if !ok {
		return status(404, sdk.ReasonNotFound, fmt.Sprintf("the server could not find the requested resource %s", req.Path))
	}
	query, err := url.ParseQuery(req.Query)
	if err != nil {
		return status(400, sdk.ReasonBadRequest, err.Error())
	}
	if t.subresource != "" && t.subresource != "status" {
		return status(404, sdk.ReasonNotFound, "subresource "+t.subresource+" is not served")
	}
	switch {
	case req.Method == "GET" && t.name == "":
		return c.list(t, query)
	case req.Method == "GET":
		o, ok := c.objects[t.key()]
		if !ok {
			return notFound(t)
		}
		return ok200(o)
	case req.Method == "POST" && t.name == "":
		body, err := decodeBody(req.Body)
		if err != nil {
			return status(400, sdk.ReasonBadRequest, err.Error())
		}
		o, err := c.create(sdk.Resource{Group: t.group, Resource: t.resource}, t.namespace, body)
		if err != nil {
			return err.(*statusResponse).resp
		}
		return &sdk.APIResponse{Status: 201, Body: encode(o)}
	case req.Method == "PUT" && t.name != "":
		body, err := decodeBody(req.Body)
		if err != nil {
			return status(400, sdk.ReasonBadRequest, err.Error())
		}
		return c.update(t, body)
	case req.Method == "PATCH" && t.name != "":
		return c.patch(t, req)
	case req.Method == "DELETE" && t.name != "":
		return c.delete(t, req.Body)
	}
	return status(405, sdk.ReasonMethodNotAllowed, req.Method+" is not supported on "+req.Path)
}

// statusResponse carries an error response out of create.
type statusResponse struct{ resp *sdk.APIResponse }

func (s *statusResponse) Error() string { return string(s.resp.Body) }

// create stores body as a new object of r in namespace.
func (c *Cluster) create(r sdk.Resource, namespace string, body map[string]any) (map[string]any, error) {
	o := &sdk.Object{Object: body}
	if o.GetName() == "" {
		if gen, _ := o.NestedString("metadata", "generateName"); gen != "" {
			o.SetName(gen + strconv.FormatInt(c.rv+1, 36))
		}
	}
	if o.GetName() == "" {
		return nil, &statusResponse{status(422, sdk.ReasonInvalid, "metadata.name: Required value")}
	}
	if ns := o.GetNamespace(); ns != "" && namespace != "" && ns != namespace {
		return nil, &statusResponse{status(400, sdk.ReasonBadRequest, "the namespace of the object does not match the namespace of the request")}
	}
	if namespace != "" {
		o.SetNamespace(namespace)
	}
	k := key(r.Group, r.Resource, namespace, o.GetName())
	if _, exists := c.objects[k]; exists {
		return nil, &statusResponse{status(409, sdk.ReasonAlreadyExists, fmt.Sprintf("%s %q already exists", r.Resource, o.GetName()))}
	}
	rv := c.nextRV()
	o.SetResourceVersion(rv)
	_ = o.SetNestedField("uid-"+rv, "metadata", "uid")
	_ = o.SetNestedField(int64(1), "metadata", "generation")
	_ = o.SetNestedField(c.Now().UTC().Format(time.RFC3339), "metadata", "creationTimestamp")
	c.objects[k] = o.Object
	if kind := o.GetKind(); kind != "" {
		c.kinds[r.Group+"/"+r.Resource] = kind
	}
	return copyMap(o.Object), nil
}

// update replaces an object, or its status for the status subresource.
func (c *Cluster) update(t target, body map[string]any) *sdk.APIResponse {
	old, ok := c.objects[t.key()]
	if !ok {
		return notFound(t)
	}
	in := &sdk.Object{Object: body}
	cur := &sdk.Object{Object: old}
	if rv := in.GetResourceVersion(); rv != "" && rv != cur.GetResourceVersion() {
		return status(409, sdk.ReasonConflict, fmt.Sprintf("Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", t.resource, t.name))
	}
	if in.GetName() != "" && in.GetName() != t.name {
		return status(400, sdk.ReasonBadRequest, "the name of the object does not match the name on the URL")
	}
	var next *sdk.Object
	if t.subresource == "status" {
		next = cur.DeepCopy()
		if s, ok := in.NestedField("status"); ok {
			_ = next.SetNestedField(s, "status")
		} else {
			next.RemoveNestedField("status")
		}
	} else {
		next = in.DeepCopy()
		for _, f := range []string{"uid", "creationTimestamp", "generation", "namespace", "name"} {
			if v, ok := cur.NestedField("metadata", f); ok {
				_ = next.SetNestedField(v, "metadata", f)
			}
		}
		if s, ok := cur.NestedField("status"); ok {
			_ = next.SetNestedField(s, "status")
		} else {
			next.RemoveNestedField("status")
		}
	}
	return c.store(t, cur, next)
}

// store saves next in place of cur, bumping resourceVersion when anything
// changed and generation when more than metadata and status did.
func (c *Cluster) store(t target, cur, next *sdk.Object) *sdk.APIResponse {
	if next.GetAPIVersion() == "" {
		next.SetAPIVersion(cur.GetAPIVersion())
	}
	if next.GetKind() == "" {
		next.SetKind(cur.GetKind())
	}
	next.SetResourceVersion(cur.GetResourceVersion())
	if reflect.DeepEqual(normalized(cur), normalized(next)) {
		return ok200(cur.Object)
	}
	if !reflect.DeepEqual(withoutMetaAndStatus(cur), withoutMetaAndStatus(next)) {
		_ = next.SetNestedField(cur.GetGeneration()+1, "metadata", "generation")
	}
	next.SetResourceVersion(c.nextRV())
	c.objects[t.key()] = next.Object
	return ok200(next.Object)
}

// normalized is o as JSON would see it, so int64(1) equals json.Number("1").
func normalized(o *sdk.Object) any {
	var v any
	_ = json.Unmarshal(encode(o), &v)
	return v
}

func withoutMetaAndStatus(o *sdk.Object) any {
	c := o.DeepCopy()
	c.RemoveNestedField("metadata")
	c.RemoveNestedField("status")
	return normalized(c)
}

func (c *Cluster) delete(t target, body json.RawMessage) *sdk.APIResponse {
	old, ok := c.objects[t.key()]
	if !ok {
		return notFound(t)
	}
	var opts struct {
		Preconditions *sdk.Preconditions `json:"preconditions"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &opts); err != nil {
			return status(400, sdk.ReasonBadRequest, err.Error())
		}
	}
	cur := &sdk.Object{Object: old}
	if p := opts.Preconditions; p != nil &&
		((p.UID != "" && p.UID != cur.GetUID()) || (p.ResourceVersion != "" && p.ResourceVersion != cur.GetResourceVersion())) {
		return status(409, sdk.ReasonConflict, fmt.Sprintf("Precondition failed for %s %q", t.resource, t.name))
	}
	delete(c.objects, t.key())
	return &sdk.APIResponse{Status: 200, Body: encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Success",
		"details": map[string]any{"name": t.name, "kind": t.resource, "uid": cur.GetUID()},
	})}
}

func (c *Cluster) list(t target, query url.Values) *sdk.APIResponse {
	labels, err := parseSelector(query.Get("labelSelector"))
	if err != nil {
		return status(400, sdk.ReasonBadRequest, err.Error())
	}
	fields, err := parseSelector(query.Get("fieldSelector"))
	if err != nil {
		return status(400, sdk.ReasonBadRequest, err.Error())
	}
	prefix := t.group + "/" + t.resource + "/"
	if t.namespace != "" {
		prefix += t.namespace + "/"
	}
	items := []any{}
	for _, k := range slices.Sorted(maps.Keys(c.objects)) {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		o := &sdk.Object{Object: c.objects[k]}
		fieldSet := map[string]string{"metadata.name": o.GetName(), "metadata.namespace": o.GetNamespace()}
		if labels.matches(o.GetLabels()) && fields.matches(fieldSet) {
			items = append(items, o.Object)
		}
	}
	// A list's kind is its items' kind with "List", as the API server and
	// the host's cache answer; "List" for a resource never stored.
	kind := "List"
	if k := c.kinds[t.group+"/"+t.resource]; k != "" {
		kind = k + "List"
	}
	return &sdk.APIResponse{Status: 200, Body: encode(map[string]any{
		"apiVersion": t.apiVersion(),
		"kind":       kind,
		"metadata":   map[string]any{"resourceVersion": strconv.FormatInt(c.rv, 10)},
		"items":      items,
	})}
}

func decodeBody(b []byte) (map[string]any, error) {
	o := &sdk.Object{}
	if err := o.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return o.Object, nil
}

func ok200(o map[string]any) *sdk.APIResponse {
	return &sdk.APIResponse{Status: 200, Body: encode(o)}
}

func notFound(t target) *sdk.APIResponse {
	return status(404, sdk.ReasonNotFound, fmt.Sprintf("%s %q not found", t.resource, t.name))
}

// status is an error response with a Kubernetes Status body.
func status(code int, reason, message string) *sdk.APIResponse {
	return &sdk.APIResponse{Status: code, Body: encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": message, "reason": reason, "code": code,
	})}
}
