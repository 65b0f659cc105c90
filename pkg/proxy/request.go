package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

var allowedMethods = sets.New(http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete)

// allowedQuery are the query parameters a guest may send: those of get,
// list, create, update, patch and delete. Anything else, in particular
// every parameter that only watches and streams use, is refused.
var allowedQuery = sets.New(
	"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "timeoutSeconds",
	"dryRun", "fieldManager", "fieldValidation", "force",
	"gracePeriodSeconds", "propagationPolicy", "orphanDependents", "ignoreStoreReadErrorWithClusterBreakingPotential",
	"pretty", "watch",
)

// streamingSubresources answer with a stream, an upgraded connection or a
// body that is not JSON: guests cannot use them.
var streamingSubresources = sets.New("exec", "attach", "portforward", "proxy", "log")

// legacyPrefixes are the resource positions of the deprecated
// /api/v1/watch/... and /api/v1/proxy/... paths.
var legacyPrefixes = sets.New("watch", "proxy")

// guestRequest is a request envelope the host checked: only what it holds
// reaches the API server.
type guestRequest struct {
	method string
	// rawPath is the guest's path, checked to be an API resource path of
	// plain segments.
	rawPath string
	path    apiPath
	query   url.Values
	// contentType is the media type of the body, one the API server takes
	// as JSON or a JSON patch.
	contentType string
	// noCache asks a GET to bypass the cache.
	noCache bool
	body    []byte
}

// checkRequest checks a guest's request envelope and returns what may be
// sent, or the Status answering it when it may not.
func checkRequest(req *abi.APIRequest) (*guestRequest, *abi.APIResponse) {
	if !allowedMethods.Has(req.Method) {
		return nil, status(http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("method %q is not served to guests", req.Method))
	}
	if len(req.Body) > abi.MaxRequestBytes {
		return nil, status(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			fmt.Sprintf("the request body is larger than %d bytes", abi.MaxRequestBytes))
	}
	gr := &guestRequest{method: req.Method, rawPath: req.Path, body: req.Body}
	if resp := checkPath(gr); resp != nil {
		return nil, resp
	}
	if resp := checkQuery(gr, req.Query); resp != nil {
		return nil, resp
	}
	if resp := checkHeaders(gr, req.Headers); resp != nil {
		return nil, resp
	}
	return gr, nil
}

// Bounds of a guest's request path: no API group, namespace, resource or
// object name is longer than a DNS subdomain, and a path has a handful of
// them.
const (
	maxSegmentBytes = 253
	maxPathBytes    = 2048
)

// checkPath lets only a resource path through: /api/VERSION/... or
// /apis/GROUP/VERSION/..., made of non-empty segments with no dot segments,
// no percent-encoding and no character that could end the path or the line
// (?, #, \, space, control characters). So the host alone decides the
// server, and the path reaches it as the guest wrote it.
func checkPath(gr *guestRequest) *abi.APIResponse {
	// Bounded first: names go into SubjectAccessReviews, the authorizer's
	// remembered answers and the messages below.
	if len(gr.rawPath) > maxPathBytes {
		return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf("path of %d bytes: at most %d", len(gr.rawPath), maxPathBytes))
	}
	bad := func(why string) *abi.APIResponse {
		return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf("path %q %s", gr.rawPath, why))
	}
	if !strings.HasPrefix(gr.rawPath, "/api/") && !strings.HasPrefix(gr.rawPath, "/apis/") {
		return status(http.StatusNotFound, "NotFound", fmt.Sprintf("path %q is not a Kubernetes API path", gr.rawPath))
	}
	if !utf8.ValidString(gr.rawPath) {
		return bad("is not UTF-8")
	}
	for _, seg := range strings.Split(gr.rawPath[1:], "/") {
		switch seg {
		case "":
			return bad("has an empty segment: no // and no trailing /")
		case ".", "..":
			return bad("may not contain . or .. segments")
		}
		if len(seg) > maxSegmentBytes {
			return bad(fmt.Sprintf("has a segment of %d bytes: no group, namespace, resource or name is longer than %d", len(seg), maxSegmentBytes))
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || strings.ContainsRune(` %?#\`, r) {
				return bad(fmt.Sprintf("may not contain %q: paths are not percent-encoded and carry no query", r))
			}
		}
	}
	p, ok := parseAPIPath(gr.rawPath)
	if !ok {
		return status(http.StatusNotFound, "NotFound", fmt.Sprintf("path %q is not a resource path", gr.rawPath))
	}
	if legacyPrefixes.Has(p.Resource.Resource) || streamingSubresources.Has(p.Subresource) {
		return status(http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf(
			"path %q streams: guests cannot watch, proxy, exec, attach, port-forward or follow logs; "+
				"the host watches for them and wakes the guest when a wake rule matches", gr.rawPath))
	}
	gr.path = p
	return nil
}

// checkQuery lets through the parameters of allowedQuery, each once, and
// watch only as an explicit false: the API server takes many spellings of
// true.
func checkQuery(gr *guestRequest, raw string) *abi.APIResponse {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return status(http.StatusBadRequest, "BadRequest", "malformed query: "+err.Error())
	}
	for k, vs := range q {
		if !allowedQuery.Has(k) {
			return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf(
				"query parameter %q is not served to guests; they may send %s", k, strings.Join(sets.List(allowedQuery), ", ")))
		}
		if len(vs) != 1 {
			return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf("query parameter %q is given %d times", k, len(vs)))
		}
	}
	if w, ok := q["watch"]; ok && w[0] != "false" {
		return status(http.StatusMethodNotAllowed, "MethodNotAllowed",
			"guests cannot watch: the host watches for them and wakes the guest when a wake rule matches")
	}
	gr.query = q
	return nil
}

// status is a Kubernetes Status answer from the host, as JSON.
func status(code int, reason, message string) *abi.APIResponse {
	resp := abi.StatusResponse(code, reason, message)
	resp.Headers = map[string]string{"Content-Type": jsonType}
	return resp
}
