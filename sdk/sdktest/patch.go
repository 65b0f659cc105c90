package sdktest

import (
	"encoding/json"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// patch applies a merge patch (and treats apply patches as merge patches
// that create what is missing).
func (c *Cluster) patch(t target, req *sdk.APIRequest) *sdk.APIResponse {
	pt := sdk.PatchType(req.Headers["Content-Type"])
	if pt != sdk.MergePatch && pt != sdk.ApplyPatch {
		return status(415, "UnsupportedMediaType", "sdktest serves merge and apply patches only, not "+string(pt))
	}
	var patch map[string]any
	if err := json.Unmarshal(req.Body, &patch); err != nil {
		return status(400, sdk.ReasonBadRequest, err.Error())
	}
	old, ok := c.objects[t.key()]
	if !ok {
		if pt != sdk.ApplyPatch || t.subresource != "" {
			return notFound(t)
		}
		body, _ := decodeBody(req.Body)
		o, err := c.create(sdk.Resource{Group: t.group, Resource: t.resource}, t.namespace, body)
		if err != nil {
			return err.(*statusResponse).resp
		}
		return &sdk.APIResponse{Status: 201, Body: encode(o)}
	}
	cur := &sdk.Object{Object: old}
	if t.subresource == "status" {
		patch = map[string]any{"status": patch["status"]}
	} else {
		delete(patch, "status")
	}
	merged, _ := mergePatch(normalized(cur), patch).(map[string]any)
	next, err := decodeBody(encode(merged))
	if err != nil {
		return status(500, sdk.ReasonInternalError, err.Error())
	}
	return c.store(t, cur, &sdk.Object{Object: next})
}

// mergePatch applies an RFC 7386 merge patch.
func mergePatch(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = mergePatch(d[k], v)
	}
	return d
}
