package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Client reads and writes Kubernetes objects through an API, by default the
// host's. Reads are served to the controller's ServiceAccount and writes are
// made as it, so its RBAC decides what the controller may do.
//
// Methods take the Resource to act on; the objects they write may be an
// *Object or any struct with JSON tags, and the objects they return are
// *Object, which Into decodes into a struct.
type Client struct {
	api API
}

// DefaultClient is a Client of the host's API.
var DefaultClient = NewClient()

// NewClient returns a Client of the host's API.
func NewClient() *Client {
	return NewClientFor(HostAPI)
}

// NewClientFor returns a Client of api; tests pass a fake.
func NewClientFor(api API) *Client {
	return &Client{api: api}
}

// ObjectList is the result of List.
type ObjectList struct {
	// Items are the objects, each with apiVersion and kind set.
	Items []*Object
	// ResourceVersion is the list's resourceVersion.
	ResourceVersion string
	// Continue, when not empty, fetches the next page with the Continue option.
	Continue string
}

// Into decodes the items into v, a pointer to a slice of structs.
func (l *ObjectList) Into(v any) error {
	b, err := json.Marshal(l.Items)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding list items into %T: %w", v, err)
	}
	return nil
}

// Get returns the object name in namespace ("" for a cluster-scoped resource).
//
// # Errors
//
// A *StatusError for API errors: IsNotFound when the object does not exist.
func (c *Client) Get(ctx context.Context, r Resource, namespace, name string) (*Object, error) {
	if err := checkKey(r, namespace, name); err != nil {
		return nil, err
	}
	return c.object(ctx, "GET", r.Path(namespace, name, ""), nil, nil, nil)
}

// GetUncached is Get answered by the API server rather than the host's
// cache. The cache may lag behind a write the guest just made (see
// docs/abi.md, "Reads and the cache"); use this when a reconcile must see
// its own write, and prefer the object a write returns when that will do.
// Uncached reads cost a request to the API server each and are counted.
func (c *Client) GetUncached(ctx context.Context, r Resource, namespace, name string) (*Object, error) {
	if err := checkKey(r, namespace, name); err != nil {
		return nil, err
	}
	return c.object(ctx, "GET", r.Path(namespace, name, ""), nil, map[string]string{"Cache-Control": "no-cache"}, nil)
}

// List returns the objects of r in namespace, or in all namespaces when
// namespace is empty, that match the options.
func (c *Client) List(ctx context.Context, r Resource, namespace string, opts ...ListOption) (*ObjectList, error) {
	if err := checkScope(r, namespace); err != nil {
		return nil, err
	}
	q := query{}
	for _, o := range opts {
		o.applyToList(q)
	}
	path := r.Path(namespace, "", "")
	status, body, err := c.do(ctx, "GET", path, q, nil, nil)
	if err != nil {
		return nil, err
	}
	if !success(status) {
		return nil, decodeStatusError(status, body)
	}
	// One pass over the body: items decoded as plain maps (numbers as
	// json.Number, as Object decodes them) rather than each found first and
	// then decoded again by Object's UnmarshalJSON.
	var raw struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			ResourceVersion string `json:"resourceVersion"`
			Continue        string `json:"continue"`
		} `json:"metadata"`
		Items []map[string]any `json:"items"`
	}
	if err := decodeNumbers(body, &raw); err != nil {
		return nil, fmt.Errorf("GET %s: decoding list: %w", path, err)
	}
	list := &ObjectList{Items: make([]*Object, len(raw.Items)), ResourceVersion: raw.Metadata.ResourceVersion, Continue: raw.Metadata.Continue}
	// Items of a list usually lack apiVersion and kind; give them the list's.
	kind := strings.TrimSuffix(raw.Kind, "List")
	for i, m := range raw.Items {
		if m == nil {
			return nil, fmt.Errorf("GET %s: decoding list: item %d: decoding object: %w", path, i, errNotObject)
		}
		item := &Object{Object: m}
		if item.GetAPIVersion() == "" && raw.APIVersion != "" {
			item.SetAPIVersion(raw.APIVersion)
		}
		if item.GetKind() == "" && kind != "" {
			item.SetKind(kind)
		}
		list.Items[i] = item
	}
	return list, nil
}

// Create creates obj, an *Object or a struct with JSON tags, in the
// namespace of its metadata, and returns the object created.
//
// # Errors
//
// A *StatusError for API errors: IsAlreadyExists when the name is taken.
func (c *Client) Create(ctx context.Context, r Resource, obj any, opts ...WriteOption) (*Object, error) {
	o, err := writable(r, obj)
	if err != nil {
		return nil, err
	}
	ns := o.GetNamespace()
	if err := checkScope(r, ns); err != nil {
		return nil, err
	}
	if r.Namespaced && ns == "" {
		return nil, fmt.Errorf("create %s: metadata.namespace is required", r)
	}
	return c.object(ctx, "POST", r.Path(ns, "", ""), writeQuery(opts), contentType("application/json"), o)
}

// Update replaces obj, named by its metadata, and returns the object
// updated. Changes to status are ignored when the resource has a status
// subresource; use UpdateStatus for them.
//
// # Errors
//
// A *StatusError for API errors: IsConflict when metadata.resourceVersion is
// set and stale.
func (c *Client) Update(ctx context.Context, r Resource, obj any, opts ...WriteOption) (*Object, error) {
	return c.update(ctx, r, obj, "", opts)
}

// UpdateStatus replaces the status of obj through the status subresource and
// returns the object updated. Only status changes are kept.
func (c *Client) UpdateStatus(ctx context.Context, r Resource, obj any, opts ...WriteOption) (*Object, error) {
	return c.update(ctx, r, obj, "status", opts)
}

func (c *Client) update(ctx context.Context, r Resource, obj any, subresource string, opts []WriteOption) (*Object, error) {
	o, err := writable(r, obj)
	if err != nil {
		return nil, err
	}
	ns, name := o.GetNamespace(), o.GetName()
	if err := checkKey(r, ns, name); err != nil {
		return nil, err
	}
	return c.object(ctx, "PUT", r.Path(ns, name, subresource), writeQuery(opts), contentType("application/json"), o)
}

// Delete deletes the object name in namespace. The object may linger after
// Delete returns while finalizers run.
//
// # Errors
//
// A *StatusError for API errors: IsNotFound when the object does not exist,
// IsConflict when Preconditions do not hold.
func (c *Client) Delete(ctx context.Context, r Resource, namespace, name string, opts ...DeleteOption) error {
	if err := checkKey(r, namespace, name); err != nil {
		return err
	}
	var body any
	if len(opts) > 0 {
		o := &deleteOptions{APIVersion: "v1", Kind: "DeleteOptions"}
		for _, opt := range opts {
			opt.applyToDelete(o)
		}
		body = o
	}
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	_, err := c.object(ctx, "DELETE", r.Path(namespace, name, ""), nil, contentType(ct), body)
	return err
}

// object makes a request whose response is an object.
func (c *Client) object(ctx context.Context, method, path string, q query, headers map[string]string, body any) (*Object, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding body: %w", method, path, err)
		}
		raw = enc
	}
	status, resp, err := c.do(ctx, method, path, q, headers, raw)
	if err != nil {
		return nil, err
	}
	if !success(status) {
		return nil, decodeStatusError(status, resp)
	}
	if len(resp) == 0 {
		return nil, nil
	}
	o := &Object{}
	if err := o.UnmarshalJSON(resp); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return o, nil
}

// do sends one request and returns the response's status code and body. It
// is the only place the Client meets its API.
func (c *Client) do(ctx context.Context, method, path string, q query, headers map[string]string, body []byte) (int, []byte, error) {
	h := map[string]string{"Accept": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	req := &APIRequest{Method: method, Path: path, Query: q.encode(), Headers: h, Body: body}
	resp, err := c.api.Do(ctx, req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp.Status, resp.Body, nil
}

func success(status int) bool { return status >= 200 && status < 300 }

// writable converts obj for writing to r and fills in apiVersion and kind
// when they are missing and r names its kind, on a copy, so the caller's
// object is not changed.
func writable(r Resource, obj any) (*Object, error) {
	o, err := ObjectFrom(obj)
	if err != nil {
		return nil, err
	}
	if r.Kind == "" || (o.GetAPIVersion() != "" && o.GetKind() != "") {
		return o, nil
	}
	o = o.DeepCopy()
	if o.GetAPIVersion() == "" {
		o.SetAPIVersion(r.APIVersion())
	}
	if o.GetKind() == "" {
		o.SetKind(r.Kind)
	}
	return o, nil
}

func writeQuery(opts []WriteOption) query {
	q := query{}
	for _, o := range opts {
		o.applyToWrite(q)
	}
	return q
}

// checkScope refuses a namespace for a cluster-scoped resource.
func checkScope(r Resource, namespace string) error {
	if r.Resource == "" || r.Version == "" {
		return fmt.Errorf("resource %+v: version and resource are required", r)
	}
	if !r.Namespaced && namespace != "" {
		return fmt.Errorf("%s is cluster-scoped: namespace %q given", r, namespace)
	}
	return nil
}

// checkKey checks the key of one object.
func checkKey(r Resource, namespace, name string) error {
	if err := checkScope(r, namespace); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%s: name is required", r)
	}
	if r.Namespaced && namespace == "" {
		return fmt.Errorf("%s %q: namespace is required", r, name)
	}
	if strings.Contains(name, "/") || strings.Contains(namespace, "/") {
		return fmt.Errorf("%s %q: names may not contain /", r, name)
	}
	return nil
}

// contentType is the header map of a Content-Type, none when ct is empty.
func contentType(ct string) map[string]string {
	if ct == "" {
		return nil
	}
	return map[string]string{"Content-Type": ct}
}
