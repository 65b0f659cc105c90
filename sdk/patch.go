package sdk

import (
	"context"
	"encoding/json"
	"fmt"
)

// PatchType is the kind of a patch, sent as its Content-Type.
type PatchType string

// Patch types.
const (
	// MergePatch is a JSON merge patch (RFC 7386).
	MergePatch PatchType = "application/merge-patch+json"
	// StrategicMergePatch is a Kubernetes strategic merge patch; built-in
	// types only.
	StrategicMergePatch PatchType = "application/strategic-merge-patch+json"
	// JSONPatch is a JSON patch (RFC 6902): a list of operations.
	JSONPatch PatchType = "application/json-patch+json"
	// ApplyPatch is a server-side apply: the fields the controller wants,
	// with apiVersion, kind and name. It needs a FieldManager and usually
	// Force.
	ApplyPatch PatchType = "application/apply-patch+yaml"
)

// Patch patches the object name in namespace and returns the object patched.
// patch is a string, []byte or json.RawMessage holding JSON, or any other
// value encoded to JSON (a map, a struct, an *Object, or a list of operations
// for JSONPatch).
func (c *Client) Patch(ctx context.Context, r Resource, namespace, name string, pt PatchType, patch any, opts ...WriteOption) (*Object, error) {
	return c.patch(ctx, r, namespace, name, "", pt, patch, opts)
}

// PatchStatus patches the status of the object name through the status
// subresource, as Patch does.
func (c *Client) PatchStatus(ctx context.Context, r Resource, namespace, name string, pt PatchType, patch any, opts ...WriteOption) (*Object, error) {
	return c.patch(ctx, r, namespace, name, "status", pt, patch, opts)
}

func (c *Client) patch(ctx context.Context, r Resource, namespace, name, subresource string, pt PatchType, patch any, opts []WriteOption) (*Object, error) {
	if err := checkKey(r, namespace, name); err != nil {
		return nil, err
	}
	if pt == "" {
		return nil, fmt.Errorf("patch %s %s: no patch type", r, name)
	}
	var body []byte
	switch p := patch.(type) {
	case []byte:
		body = p
	case json.RawMessage:
		body = p
	case string:
		body = []byte(p)
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("patch %s %s: encoding patch: %w", r, name, err)
		}
		body = b
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("patch %s %s: the patch is not JSON", r, name)
	}
	return c.object(ctx, "PATCH", r.Path(namespace, name, subresource), writeQuery(opts), contentType(string(pt)), body)
}
