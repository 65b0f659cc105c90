package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// recorder is a fake API server that keeps the last request it received.
type recorder struct {
	mu   sync.Mutex
	last *http.Request
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.last = req.Clone(req.Context())
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}}`))
}

func (r *recorder) take() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := r.last
	r.last = nil
	return last
}

func newRecordedPassthrough(t *testing.T) (*Passthrough, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	p, err := NewPassthrough(&rest.Config{Host: srv.URL}, "team-a", "guest")
	if err != nil {
		t.Fatal(err)
	}
	return p, rec
}

func wantStatus(t *testing.T, resp *abi.APIResponse, code int, reason, inMessage string) {
	t.Helper()
	var st struct{ Kind, Reason, Message string }
	if err := json.Unmarshal(resp.Body, &st); err != nil || resp.Status != code || st.Kind != "Status" || st.Reason != reason ||
		!strings.Contains(st.Message, inMessage) {
		t.Errorf("answer %d %s; want a %d Status with reason %s and message containing %q", resp.Status, resp.Body, code, reason, inMessage)
	}
	if resp.Headers["Content-Type"] != "application/json" {
		t.Errorf("Content-Type of a host's Status = %q, want application/json", resp.Headers["Content-Type"])
	}
}

// TestPassthrough_GuestHeaders checks that a guest cannot choose who its
// request is made as: every header but Content-Type, Accept and
// Cache-Control is refused before anything reaches the API server.
func TestPassthrough_GuestHeaders(t *testing.T) {
	p, rec := newRecordedPassthrough(t)
	const cm = "/api/v1/namespaces/team-a/configmaps/x"
	refused := []struct {
		name    string
		headers map[string]string
		message string
	}{
		{"impersonate another service account", map[string]string{"Impersonate-User": "system:serviceaccount:kube-system:clusterrole-aggregation-controller"}, `header "Impersonate-User"`},
		{"impersonate in lower case", map[string]string{"impersonate-user": "system:admin"}, `header "Impersonate-User"`},
		{"impersonate in upper case", map[string]string{"IMPERSONATE-USER": "system:admin"}, `header "Impersonate-User"`},
		{"impersonate a group", map[string]string{"Impersonate-Group": "system:masters"}, `header "Impersonate-Group"`},
		{"impersonate a uid", map[string]string{"Impersonate-Uid": "1234"}, `header "Impersonate-Uid"`},
		{"impersonate an extra", map[string]string{"Impersonate-Extra-Scopes": "view"}, `header "Impersonate-Extra-Scopes"`},
		{"authorization", map[string]string{"Authorization": "Bearer stolen"}, `header "Authorization"`},
		{"front proxy user", map[string]string{"X-Remote-User": "system:admin"}, `header "X-Remote-User"`},
		{"host", map[string]string{"Host": "elsewhere.example"}, `header "Host"`},
		{"same header in two cases", map[string]string{"Accept": "application/json", "accept": "application/json"}, "given twice"},
		{"content type that is not JSON", map[string]string{"Content-Type": "application/vnd.kubernetes.protobuf"}, "Content-Type"},
		{"content type with a line break", map[string]string{"Content-Type": "application/json\r\nImpersonate-User: system:admin"}, "control character"},
		{"content type with another parameter", map[string]string{"Content-Type": "application/json; x=y"}, "Content-Type"},
		{"accept without JSON", map[string]string{"Accept": "application/yaml"}, "Accept"},
		{"cache control other than no-cache", map[string]string{"Cache-Control": "max-age=0"}, "Cache-Control"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "PATCH", Path: cm, Headers: tt.headers, Body: json.RawMessage(`{}`)})
			wantStatus(t, resp, http.StatusBadRequest, "BadRequest", tt.message)
			if r := rec.take(); r != nil {
				t.Errorf("a refused request reached the API server as %q with headers %v", r.Header.Get("Impersonate-User"), r.Header)
			}
		})
	}

	passed := []struct {
		name            string
		headers         map[string]string
		wantContentType string
	}{
		{"merge patch", map[string]string{"Content-Type": "application/merge-patch+json"}, "application/merge-patch+json"},
		{"strategic merge patch in another case", map[string]string{"content-type": "application/strategic-merge-patch+json"}, "application/strategic-merge-patch+json"},
		{"json patch with a charset", map[string]string{"Content-Type": "application/json-patch+json; charset=UTF-8"}, "application/json-patch+json"},
		{"apply patch", map[string]string{"Content-Type": "application/apply-patch+yaml"}, "application/apply-patch+yaml"},
		{"no content type", nil, "application/json"},
		{"accept from client-go", map[string]string{"Accept": "application/json, */*"}, "application/json"},
		{"cache control", map[string]string{"Cache-Control": "no-cache"}, "application/json"},
	}
	for _, tt := range passed {
		t.Run(tt.name, func(t *testing.T) {
			resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "PATCH", Path: cm, Headers: tt.headers, Body: json.RawMessage(`{}`)})
			if resp.Status != http.StatusOK {
				t.Fatalf("answer %d %s, want 200", resp.Status, resp.Body)
			}
			r := rec.take()
			if r == nil {
				t.Fatal("the request did not reach the API server")
			}
			if got := r.Header.Get("Content-Type"); got != tt.wantContentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
			}
			for name, values := range r.Header {
				switch name {
				case "Impersonate-User":
					if len(values) != 1 || values[0] != "system:serviceaccount:team-a:guest" {
						t.Errorf("Impersonate-User = %q, want only the controller's ServiceAccount", values)
					}
				case "Accept":
					if len(values) != 1 || values[0] != "application/json" {
						t.Errorf("Accept = %q, want application/json", values)
					}
				case "Content-Type", "Content-Length", "Accept-Encoding", "User-Agent":
				default:
					t.Errorf("the API server got header %s: %q, which the host did not set", name, values)
				}
			}
		})
	}
}

// TestPassthrough_Paths checks that the host alone decides the server and
// that a guest's path reaches it as written or not at all.
func TestPassthrough_Paths(t *testing.T) {
	p, rec := newRecordedPassthrough(t)
	tests := []struct {
		path    string
		code    int
		message string
	}{
		{"//elsewhere.example/api/v1/configmaps", http.StatusNotFound, "not a Kubernetes API path"},
		{"http://elsewhere.example/api/v1/configmaps", http.StatusNotFound, "not a Kubernetes API path"},
		{"/api//elsewhere.example/v1/configmaps", http.StatusBadRequest, "empty segment"},
		{"/api/v1/configmaps/", http.StatusBadRequest, "empty segment"},
		{"/api/v1/namespaces/d/configmaps/..", http.StatusBadRequest, ". or .."},
		{"/api/v1/namespaces/./configmaps", http.StatusBadRequest, ". or .."},
		{"/api/v1/namespaces/d/configmaps/%2e%2e", http.StatusBadRequest, "percent-encoded"},
		{"/api/v1/namespaces/d/configmaps/x%2Fy", http.StatusBadRequest, "percent-encoded"},
		{"/api/v1/configmaps?watch=true", http.StatusBadRequest, "carry no query"},
		{"/api/v1/configmaps#x", http.StatusBadRequest, `'#'`},
		{"/api/v1/configmaps\\..\\..\\metrics", http.StatusBadRequest, `'\\'`},
		{"/api/v1/configmaps\r\nImpersonate-User: system:admin", http.StatusBadRequest, `'\r'`},
		{"/api/v1/config maps", http.StatusBadRequest, `' '`},
		{"/api/v1/configmaps\x00", http.StatusBadRequest, `'\x00'`},
		{"/api/v1/namespaces/d/configmaps/" + strings.Repeat("n", 254), http.StatusBadRequest, "segment of 254 bytes"},
		{"/api/v1/namespaces/d/configmaps/" + strings.Repeat("n/", 1100) + "n", http.StatusBadRequest, "at most 2048"},
		{"/api/v1/configmaps\xff", http.StatusBadRequest, "UTF-8"},
		{"/metrics", http.StatusNotFound, "not a Kubernetes API path"},
		{"/api/v1", http.StatusNotFound, "not a resource path"},
		{"/api/v1/namespaces/d/services/s:80/proxy/metrics", http.StatusNotFound, "not a resource path"},
		{"/api/v1/watch/configmaps", http.StatusMethodNotAllowed, "streams"},
		{"/api/v1/proxy/nodes/n", http.StatusMethodNotAllowed, "streams"},
		{"/api/v1/namespaces/d/pods/p/exec", http.StatusMethodNotAllowed, "streams"},
		{"/api/v1/namespaces/d/pods/p/attach", http.StatusMethodNotAllowed, "streams"},
		{"/api/v1/namespaces/d/pods/p/portforward", http.StatusMethodNotAllowed, "streams"},
		{"/api/v1/namespaces/d/pods/p/log", http.StatusMethodNotAllowed, "streams"},
		{"/api/v1/nodes/n/proxy", http.StatusMethodNotAllowed, "streams"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: tt.path})
			wantStatus(t, resp, tt.code, reasonFor(tt.code), tt.message)
			if r := rec.take(); r != nil {
				t.Errorf("a refused path reached the API server: %s", r.URL)
			}
		})
	}

	// Names with the characters Kubernetes allows reach the server as written.
	for _, path := range []string{
		"/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-edit",
		"/api/v1/namespaces/d/configmaps/a.b-c",
		"/api/v1/namespaces/d/status",
	} {
		resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: path})
		r := rec.take()
		if resp.Status != http.StatusOK || r == nil || r.URL.Path != path || r.URL.RawPath != "" {
			t.Errorf("GET %s: answer %d, server saw %v; want it served as written", path, resp.Status, r)
		}
	}
}

func reasonFor(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "BadRequest"
	case http.StatusNotFound:
		return "NotFound"
	case http.StatusMethodNotAllowed:
		return "MethodNotAllowed"
	}
	return ""
}

// TestPassthrough_Query checks that no spelling of watch, and no parameter
// of a streaming request, reaches the API server.
func TestPassthrough_Query(t *testing.T) {
	p, rec := newRecordedPassthrough(t)
	refused := []struct {
		query   string
		code    int
		message string
	}{
		{"watch=true", http.StatusMethodNotAllowed, "cannot watch"},
		{"watch=1", http.StatusMethodNotAllowed, "cannot watch"},
		{"watch=yes", http.StatusMethodNotAllowed, "cannot watch"},
		{"watch=True", http.StatusMethodNotAllowed, "cannot watch"},
		{"watch=", http.StatusMethodNotAllowed, "cannot watch"},
		{"watch", http.StatusMethodNotAllowed, "cannot watch"},
		{"watch=false&watch=true", http.StatusBadRequest, "given 2 times"},
		{"allowWatchBookmarks=true", http.StatusBadRequest, `"allowWatchBookmarks"`},
		{"sendInitialEvents=true", http.StatusBadRequest, `"sendInitialEvents"`},
		{"follow=true", http.StatusBadRequest, `"follow"`},
		{"Impersonate-User=system:admin", http.StatusBadRequest, `"Impersonate-User"`},
		{"limit=1;watch=true", http.StatusBadRequest, "malformed query"},
		{"limit=%zz", http.StatusBadRequest, "malformed query"},
	}
	for _, tt := range refused {
		t.Run(tt.query, func(t *testing.T) {
			// Cache-Control: no-cache is how a GET once reached the API server.
			resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps",
				Query: tt.query, Headers: map[string]string{"Cache-Control": "no-cache"}})
			wantStatus(t, resp, tt.code, reasonFor(tt.code), tt.message)
			if r := rec.take(); r != nil {
				t.Errorf("a refused query reached the API server: %s", r.URL)
			}
		})
	}
	resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps",
		Query: "watch=false&labelSelector=app%3Dx&limit=5"})
	r := rec.take()
	if resp.Status != http.StatusOK || r == nil || r.URL.RawQuery != "labelSelector=app%3Dx&limit=5&watch=false" {
		t.Errorf("a list with watch=false: answer %d, server saw %v", resp.Status, r)
	}
}

func TestPassthrough_RequestBodyBound(t *testing.T) {
	p, rec := newRecordedPassthrough(t)
	body := json.RawMessage(`"` + strings.Repeat("x", abi.MaxRequestBytes) + `"`)
	resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "POST", Path: "/api/v1/namespaces/d/configmaps", Body: body})
	wantStatus(t, resp, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "larger than")
	if rec.take() != nil {
		t.Error("an oversized body reached the API server")
	}
}
