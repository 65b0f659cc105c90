package proxy

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// FuzzCheckRequest checks that whatever a guest sends, a request the host
// accepts goes to the API server's host, on the path the guest wrote, with
// only parameters and headers of the allow-lists and no watch.
func FuzzCheckRequest(f *testing.F) {
	f.Add("GET", "/api/v1/namespaces/d/configmaps/x", "watch=false&limit=1", "Content-Type", "application/json")
	f.Add("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", "", "Impersonate-User", "system:admin")
	f.Add("GET", "//elsewhere.example/api/v1/configmaps", "watch=yes", "Cache-Control", "no-cache")
	f.Add("GET", "/api/v1/namespaces/d/configmaps/%2e%2e", "follow=true", "accept", "*/*")
	f.Add("POST", "/api/v1/configmaps?x#y", "a=%zz", "content-type", "application/json\r\nX: y")
	server, _ := url.Parse("https://10.0.0.1:6443/prefix")
	f.Fuzz(func(t *testing.T, method, path, query, header, value string) {
		req := &abi.APIRequest{Method: method, Path: path, Query: query, Headers: map[string]string{header: value}}
		gr, resp := checkRequest(req)
		if resp != nil {
			if gr != nil || resp.Status < 400 || resp.Headers["Content-Type"] != jsonType {
				t.Fatalf("a refusal must be a Status alone: %+v %+v", gr, resp)
			}
			return
		}
		u := requestURL(server, gr)
		parsed, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("the host built an invalid URL %q: %v", u, err)
		}
		if parsed.Scheme != "https" || parsed.Host != server.Host || parsed.Path != "/prefix"+path || parsed.Fragment != "" {
			t.Fatalf("path %q became %q", path, parsed)
		}
		q, err := url.ParseQuery(parsed.RawQuery)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range q {
			if !allowedQuery.Has(k) || len(vs) != 1 || (k == "watch" && vs[0] != "false") {
				t.Fatalf("query %q passed", parsed.RawQuery)
			}
		}
		switch textproto.CanonicalMIMEHeaderKey(header) {
		case "Content-Type", "Accept", "Cache-Control":
		default:
			t.Fatalf("header %q passed", header)
		}
		if gr.contentType != "" && !bodyTypes.Has(gr.contentType) {
			t.Fatalf("Content-Type %q passed", gr.contentType)
		}
		if _, err := http.NewRequest(gr.method, u.String(), nil); err != nil || strings.ContainsAny(gr.contentType, "\r\n") {
			t.Fatalf("an accepted request cannot be sent: %v", err)
		}
	})
}
