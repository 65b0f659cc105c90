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

	"k8s.io/client-go/rest"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// maxBody bounds a response body read for a guest: the ABI's bound of a
// response envelope, which holds the body.
const maxBody = abi.MaxResponseBytes

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
func (p *Passthrough) ServeAPI(ctx context.Context, req *abi.APIRequest) *abi.APIResponse {
	gr, resp := checkRequest(req)
	if resp != nil {
		return resp
	}
	return p.serve(ctx, gr)
}

// serve sends a checked request to the API server. The request carries
// only what the host sets: the server's URL with the guest's checked path
// and re-encoded query, the body's checked Content-Type, Accept JSON, and
// the impersonation of the ServiceAccount, which client-go adds.
func (p *Passthrough) serve(ctx context.Context, gr *guestRequest) *abi.APIResponse {
	u := requestURL(p.host, gr)
	var body io.Reader
	if len(gr.body) > 0 {
		body = bytes.NewReader(gr.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, gr.method, u.String(), body)
	if err != nil {
		return status(http.StatusBadRequest, "BadRequest", err.Error())
	}
	if hreq.URL.Host != p.host.Host || hreq.URL.Path != u.Path {
		return status(http.StatusBadRequest, "BadRequest", fmt.Sprintf("path %q does not stay on the API server", gr.rawPath))
	}
	hreq.Header.Set("Accept", jsonType)
	if gr.contentType != "" {
		hreq.Header.Set("Content-Type", gr.contentType)
	}
	hresp, err := p.client.Do(hreq)
	if err != nil {
		return status(http.StatusServiceUnavailable, "ServiceUnavailable", "reaching the API server: "+err.Error())
	}
	defer hresp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hresp.Body, maxBody+1))
	if err != nil {
		return status(http.StatusBadGateway, "InternalError", "reading the API server's response: "+err.Error())
	}
	if len(b) > maxBody {
		return tooLarge()
	}
	resp := &abi.APIResponse{Status: hresp.StatusCode, Headers: passedHeaders(hresp.Header)}
	if len(b) > 0 {
		if !json.Valid(b) {
			st := status(hresp.StatusCode, "InternalError", plainMessage(b))
			for k, v := range resp.Headers {
				if k != "Content-Type" {
					st.Headers[k] = v
				}
			}
			return st
		}
		resp.Body = b
	}
	return resp
}

// requestURL is the URL of a checked request on the API server at host.
func requestURL(host *url.URL, gr *guestRequest) *url.URL {
	u := *host
	u.Path = strings.TrimSuffix(u.Path, "/") + gr.rawPath
	u.RawPath = ""
	u.RawQuery = gr.query.Encode()
	u.Fragment = ""
	return &u
}

// tooLarge answers a response over maxBody.
func tooLarge() *abi.APIResponse {
	resp := abi.ResponseTooLarge()
	resp.Headers = map[string]string{"Content-Type": jsonType}
	return resp
}

// maxPlainMessage bounds the part of a body that is not JSON which a guest
// gets as the message of a Status.
const maxPlainMessage = 1024

// plainMessage is the start of a body that is not JSON, as a message.
func plainMessage(b []byte) string {
	if len(b) > maxPlainMessage {
		b = b[:maxPlainMessage]
	}
	return strings.ToValidUTF8(strings.TrimSpace(string(b)), "?")
}
