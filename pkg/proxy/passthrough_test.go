package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// seen is what the fake API server received.
type seen struct {
	method, path, query, impersonate, contentType, body string
}

func TestPassthrough_ServeAPI(t *testing.T) {
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Impersonate-User"), r.Header.Get("Content-Type"), string(b)}
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
		case strings.HasSuffix(r.URL.Path, "/plain"):
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("upstream broke\n"))
		default:
			_, _ = w.Write([]byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}}`))
		}
	}))
	defer srv.Close()

	p, err := NewPassthrough(&rest.Config{Host: srv.URL}, "team-a", "replicator")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		req        abi.APIRequest
		wantStatus int
		wantReason string // of a Status body; empty when the request must reach the server
		wantSeen   *seen
		refused    bool // answered by the host without reaching the server
	}{
		{
			name:       "get as the service account",
			req:        abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps/x", Query: "resourceVersion=0"},
			wantStatus: http.StatusOK,
			wantSeen:   &seen{method: "GET", path: "/api/v1/namespaces/d/configmaps/x", query: "resourceVersion=0", impersonate: "system:serviceaccount:team-a:replicator"},
		},
		{
			name: "patch keeps its content type and body",
			req: abi.APIRequest{Method: "PATCH", Path: "/api/v1/namespaces/d/configmaps/x",
				Headers: map[string]string{"Content-Type": "application/merge-patch+json"}, Body: json.RawMessage(`{"data":{"a":"1"}}`)},
			wantStatus: http.StatusOK,
			wantSeen: &seen{method: "PATCH", path: "/api/v1/namespaces/d/configmaps/x", impersonate: "system:serviceaccount:team-a:replicator",
				contentType: "application/merge-patch+json", body: `{"data":{"a":"1"}}`},
		},
		{
			name:       "api errors come back as Status objects with their codes",
			req:        abi.APIRequest{Method: "GET", Path: "/api/v1/namespaces/d/configmaps/missing"},
			wantStatus: http.StatusNotFound, wantReason: "NotFound",
		},
		{
			name:       "a body that is not JSON becomes a Status",
			req:        abi.APIRequest{Method: "GET", Path: "/api/v1/plain"},
			wantStatus: http.StatusInternalServerError, wantReason: "InternalError",
		},
		{name: "watch is refused", req: abi.APIRequest{Method: "GET", Path: "/api/v1/configmaps", Query: "watch=true"},
			wantStatus: http.StatusMethodNotAllowed, wantReason: "MethodNotAllowed", refused: true},
		{name: "non-API path", req: abi.APIRequest{Method: "GET", Path: "/metrics"},
			wantStatus: http.StatusNotFound, wantReason: "NotFound", refused: true},
		{name: "unknown method", req: abi.APIRequest{Method: "CONNECT", Path: "/api/v1/pods"},
			wantStatus: http.StatusMethodNotAllowed, wantReason: "MethodNotAllowed", refused: true},
		{name: "dot-dot path", req: abi.APIRequest{Method: "GET", Path: "/api/../metrics"},
			wantStatus: http.StatusBadRequest, wantReason: "BadRequest", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = seen{}
			resp := p.ServeAPI(t.Context(), &tt.req)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.Status, tt.wantStatus, resp.Body)
			}
			if tt.wantReason != "" {
				var st struct{ Kind, Reason string }
				if err := json.Unmarshal(resp.Body, &st); err != nil || st.Kind != "Status" || st.Reason != tt.wantReason {
					t.Errorf("body = %s, want a Status with reason %s", resp.Body, tt.wantReason)
				}
			}
			if tt.wantSeen != nil && got != *tt.wantSeen {
				t.Errorf("server saw %+v, want %+v", got, *tt.wantSeen)
			}
			if tt.refused && got.method != "" {
				t.Errorf("refused request reached the server: %+v", got)
			}
		})
	}
}

// TestPassthrough_ResponseHeaders checks that a guest sees the API server's
// headers of responseHeaders and no other.
func TestPassthrough_ResponseHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Warning", `299 - "v1 ConfigMap is deprecated"`)
		w.Header().Add("Warning", `299 - "unknown field \"x\""`)
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Audit-Id", "abc")
		w.Header().Set("Set-Cookie", "s=1")
		w.Header().Set("X-Kubernetes-Pf-Flowschema-Uid", "f")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}`))
	}))
	defer srv.Close()
	p, err := NewPassthrough(&rest.Config{Host: srv.URL}, "team-a", "replicator")
	if err != nil {
		t.Fatal(err)
	}
	resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "DELETE", Path: "/api/v1/namespaces/d/configmaps/x"})
	want := map[string]string{
		"Content-Type": "application/json",
		"Warning":      `299 - "v1 ConfigMap is deprecated", 299 - "unknown field \"x\""`,
		"Retry-After":  "1",
		"Audit-Id":     "abc",
	}
	if resp.Status != http.StatusTooManyRequests || !cmp.Equal(resp.Headers, want) {
		t.Errorf("answer %d with headers %v; want 429 with %v", resp.Status, resp.Headers, want)
	}
}

// TestPassthrough_PlainBodyBound checks that a body that is not JSON comes
// back as a Status whose message is only the start of it.
func TestPassthrough_PlainBodyBound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(strings.Repeat("upstream broke ", 1<<16)))
	}))
	defer srv.Close()
	p, err := NewPassthrough(&rest.Config{Host: srv.URL}, "team-a", "replicator")
	if err != nil {
		t.Fatal(err)
	}
	resp := p.ServeAPI(t.Context(), &abi.APIRequest{Method: "DELETE", Path: "/api/v1/namespaces/d/configmaps/x"})
	var st struct{ Message string }
	if err := json.Unmarshal(resp.Body, &st); err != nil || resp.Status != http.StatusBadGateway ||
		!strings.HasPrefix(st.Message, "upstream broke") || len(st.Message) > maxPlainMessage {
		t.Errorf("answer %d with a message of %d bytes (%v); want 502 with at most %d", resp.Status, len(st.Message), err, maxPlainMessage)
	}
}
