package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// Transport is an http.RoundTripper over an sdk.API.
type Transport struct {
	api sdk.API
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through the host.
func New() *Transport {
	return NewFor(sdk.HostAPI)
}

// NewFor returns a Transport that sends requests through api; tests pass a
// fake.
func NewFor(api sdk.API) *Transport {
	return &Transport{api: api}
}

// RoundTrip sends req through the API as one request envelope: its method,
// path, raw query, Content-Type, and body. Only the path and query of the
// URL are used. The response has the status code, a Content-Type of
// application/json, and the body.
//
// # Errors
//
// When the body is not JSON, or the API did not serve the request at all
// (the host refused the envelope). API errors are responses, not errors.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	env := &sdk.APIRequest{
		Method:  req.Method,
		Path:    req.URL.Path,
		Query:   req.URL.RawQuery,
		Headers: map[string]string{"Accept": "application/json"},
	}
	if env.Method == "" {
		env.Method = http.MethodGet
	}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		env.Headers["Content-Type"] = ct
	}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: reading request body: %w", req.Method, req.URL.Path, err)
		}
		if len(body) > 0 {
			if !json.Valid(body) {
				return nil, fmt.Errorf("%s %s: request body of Content-Type %q is not JSON; "+
					"the host takes JSON only (set rest.Config.ContentType to application/json)",
					req.Method, req.URL.Path, req.Header.Get("Content-Type"))
			}
			env.Body = body
		}
	}
	resp, err := t.api.Do(req.Context(), env)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return &http.Response{
		Status:        strconv.Itoa(resp.Status) + " " + http.StatusText(resp.Status),
		StatusCode:    resp.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}
