package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestCacheView_ChecksAWriteOnce: a guest's write is checked once on its way
// through the cache view to the API server, not by the view and again by
// the passthrough. A check allocates, so it is counted in allocations:
// serving a write through the view costs one check more than sending the
// checked request, not two.
func TestCacheView_ChecksAWriteOnce(t *testing.T) {
	var reached int
	apiServer, err := NewPassthrough(&rest.Config{Host: "https://kube-apiserver.invalid",
		Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			reached++
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {jsonType}},
				Body: io.NopCloser(strings.NewReader(`{"kind":"ConfigMap"}`)), Request: r}, nil
		})}, "team", "sa")
	if err != nil {
		t.Fatal(err)
	}
	view := NewCacheView("team/c", ServiceAccountUser("team", "sa"), nil, nil, nil, apiServer, nil)
	req := &abi.APIRequest{Method: http.MethodPatch, Path: "/api/v1/namespaces/team/configmaps/a",
		Query:   "fieldManager=guest&dryRun=All&fieldValidation=Strict",
		Headers: map[string]string{"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
		Body:    []byte(`{"data":{"a":"b"}}`)}
	gr, resp := checkRequest(req)
	if resp != nil {
		t.Fatalf("checkRequest refused the write: %d %s", resp.Status, resp.Body)
	}
	if resp := view.ServeAPI(t.Context(), req); resp.Status != http.StatusOK || reached != 1 {
		t.Fatalf("the write: status %d, reached the API server %d times; want 200, once", resp.Status, reached)
	}

	check := testing.AllocsPerRun(200, func() { _, _ = checkRequest(req) })
	send := testing.AllocsPerRun(200, func() { apiServer.serve(t.Context(), gr) })
	through := testing.AllocsPerRun(200, func() { view.ServeAPI(t.Context(), req) })
	t.Logf("allocations: check %.0f, send %.0f, through the view %.0f", check, send, through)
	if check < 4 {
		t.Fatalf("a check allocates %.0f times: too few to count checks by", check)
	}
	if checks := (through - send) / check; checks > 1.5 {
		t.Errorf("a write through the view allocates as %.1f checks, want 1", checks)
	}
}
