package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/rest"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// maxBody bounds a response body read for a guest, as the ABI does.
const maxBody = 64 << 20

var allowedMethods = sets.New(http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete)

// Passthrough serves a guest's API requests by passing them to the target
// cluster's API server as the controller's ServiceAccount.
type Passthrough struct {
	host   *url.URL
	client *http.Client
	user   string
}

// ServiceAccountUser is the user name of a ServiceAccount.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// NewPassthrough returns a handler that impersonates the ServiceAccount
// namespace/name on the cluster of cfg.
func NewPassthrough(cfg *rest.Config, namespace, serviceAccount string) (*Passthrough, error) {
	c := rest.CopyConfig(cfg)
	user := ServiceAccountUser(namespace, serviceAccount)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	client, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", user, err)
	}
	host, _, err := rest.DefaultServerUrlFor(c)
	if err != nil {
		return nil, err
	}
	return &Passthrough{host: host, client: client, user: user}, nil
}

// ServeAPI implements runtime.APIHandler.
func (p *Passthrough) ServeAPI(ctx context.Context, req *wasmruntime.APIRequest) *wasmruntime.APIResponse {
	if resp := refuse(req); resp != nil {
		return resp
	}
	u := *p.host
	u.Path = strings.TrimSuffix(u.Path, "/") + req.Path
	u.RawQuery = req.Query
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusBadRequest, "BadRequest", err.Error())
	}
	for k, v := range req.Headers {
		hreq.Header.Set(k, v)
	}
	hreq.Header.Set("Accept", "application/json")
	if len(req.Body) > 0 && hreq.Header.Get("Content-Type") == "" {
		hreq.Header.Set("Content-Type", "application/json")
	}
	hresp, err := p.client.Do(hreq)
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusServiceUnavailable, "ServiceUnavailable", "reaching the API server: "+err.Error())
	}
	defer hresp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hresp.Body, maxBody+1))
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusBadGateway, "InternalError", "reading the API server's response: "+err.Error())
	}
	if len(b) > maxBody {
		return wasmruntime.StatusResponse(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "the response is larger than 64 MiB: list with a limit and continue")
	}
	resp := &wasmruntime.APIResponse{Status: hresp.StatusCode}
	if len(b) > 0 {
		if !json.Valid(b) {
			return wasmruntime.StatusResponse(hresp.StatusCode, "InternalError", strings.TrimSpace(string(b)))
		}
		resp.Body = b
	}
	return resp
}

// refuse answers requests the host does not serve to guests.
func refuse(req *wasmruntime.APIRequest) *wasmruntime.APIResponse {
	if !allowedMethods.Has(req.Method) {
		return wasmruntime.StatusResponse(http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("method %q is not served to guests", req.Method))
	}
	if !strings.HasPrefix(req.Path, "/api/") && !strings.HasPrefix(req.Path, "/apis/") {
		return wasmruntime.StatusResponse(http.StatusNotFound, "NotFound", fmt.Sprintf("path %q is not a Kubernetes API path", req.Path))
	}
	if strings.Contains(req.Path, "..") {
		return wasmruntime.StatusResponse(http.StatusBadRequest, "BadRequest", "path may not contain ..")
	}
	q, err := url.ParseQuery(req.Query)
	if err != nil {
		return wasmruntime.StatusResponse(http.StatusBadRequest, "BadRequest", "malformed query: "+err.Error())
	}
	if w := q.Get("watch"); w == "true" || w == "1" || strings.Contains(req.Path, "/watch/") {
		return wasmruntime.StatusResponse(http.StatusMethodNotAllowed, "MethodNotAllowed",
			"guests cannot watch: the host watches for them and wakes the guest when a wake rule matches")
	}
	return nil
}
