package transport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

type fakeAPI struct {
	got  *sdk.APIRequest
	resp *sdk.APIResponse
	err  error
}

func (f *fakeAPI) Do(_ context.Context, req *sdk.APIRequest) (*sdk.APIResponse, error) {
	f.got = req
	return f.resp, f.err
}

func TestTransport_RoundTrip(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		url         string
		contentType string
		body        string
		resp        *sdk.APIResponse
		want        sdk.APIRequest
		wantStatus  int
		wantBody    string
	}{
		{
			name:   "get",
			method: "GET",
			url:    "http://wasm-apiserver/api/v1/namespaces/default/configmaps/x?resourceVersion=0",
			resp:   &sdk.APIResponse{Status: 200, Body: []byte(`{"kind":"ConfigMap"}`)},
			want: sdk.APIRequest{Method: "GET", Path: "/api/v1/namespaces/default/configmaps/x", Query: "resourceVersion=0",
				Headers: map[string]string{"Accept": "application/json"}},
			wantStatus: 200,
			wantBody:   `{"kind":"ConfigMap"}`,
		},
		{
			name:        "patch",
			method:      "PATCH",
			url:         "http://wasm-apiserver/apis/apps/v1/namespaces/web/deployments/api?fieldManager=m",
			contentType: "application/merge-patch+json",
			body:        `{"spec":{"replicas":2}}`,
			resp:        &sdk.APIResponse{Status: 404, Body: []byte(`{"kind":"Status","code":404}`)},
			want: sdk.APIRequest{Method: "PATCH", Path: "/apis/apps/v1/namespaces/web/deployments/api", Query: "fieldManager=m",
				Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/merge-patch+json"},
				Body:    []byte(`{"spec":{"replicas":2}}`)},
			wantStatus: 404,
			wantBody:   `{"kind":"Status","code":404}`,
		},
		{
			name:       "empty response body",
			method:     "DELETE",
			url:        "http://wasm-apiserver/api/v1/namespaces/x",
			resp:       &sdk.APIResponse{Status: 200},
			want:       sdk.APIRequest{Method: "DELETE", Path: "/api/v1/namespaces/x", Headers: map[string]string{"Accept": "application/json"}},
			wantStatus: 200,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{resp: tt.resp}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, tt.url, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := (&http.Client{Transport: NewFor(api)}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := *api.got
			if got.Method != tt.want.Method || got.Path != tt.want.Path || got.Query != tt.want.Query ||
				!reflect.DeepEqual(got.Headers, tt.want.Headers) || string(got.Body) != string(tt.want.Body) {
				t.Errorf("envelope = %+v (body %s), want %+v (body %s)", got, got.Body, tt.want, tt.want.Body)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(b) != tt.wantBody || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("response = %d %q %v, want %d %q", resp.StatusCode, b, resp.Header, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestTransport_Errors(t *testing.T) {
	req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://wasm-apiserver/api/v1/namespaces/d/pods", strings.NewReader("\x0a\x02k8s\x00"))
	req.Header.Set("Content-Type", "application/vnd.kubernetes.protobuf")
	api := &fakeAPI{}
	if _, err := NewFor(api).RoundTrip(req); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("protobuf body: err = %v", err)
	}
	if api.got != nil {
		t.Errorf("a body that is not JSON was sent")
	}

	req, _ = http.NewRequestWithContext(t.Context(), "GET", "http://wasm-apiserver/api/v1/namespaces", nil)
	api = &fakeAPI{err: sdk.E2BIG}
	if _, err := NewFor(api).RoundTrip(req); !errors.Is(err, sdk.E2BIG) {
		t.Errorf("host error: err = %v", err)
	}

	if _, err := New().RoundTrip(req); !errors.Is(err, sdk.ErrNotInGuest) {
		t.Errorf("outside a guest: err = %v", err)
	}
}
