package modules

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

func TestFetch_URL(t *testing.T) {
	wasm := wasmModule("from-url")
	sha := digestOf(wasm)[len("sha256:"):]
	large := append(wasmModule("large"), make([]byte, 4096)...)
	var requests atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/module.wasm":
			_, _ = w.Write(wasm)
		case "/large.wasm":
			_, _ = w.Write(large)
		case "/chunked.wasm": // no Content-Length: the limit applies while reading
			w.Header().Set("Transfer-Encoding", "chunked")
			for i := 0; i < len(large); i += 512 {
				_, _ = w.Write(large[i:min(i+512, len(large))])
				w.(http.Flusher).Flush()
			}
		case "/text":
			_, _ = w.Write([]byte("<html>not a module</html>"))
		case "/private.wasm":
			http.Error(w, "no", http.StatusForbidden)
		case "/slow.wasm":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/plain-redirect":
			http.Redirect(w, r, "http://"+r.Host+"/module.wasm", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	shaOf := func(b []byte) string { return digestOf(b)[len("sha256:"):] }
	tests := []struct {
		name       string
		path       string
		sha256     string
		timeout    time.Duration
		wantReason string
		permanent  bool
	}{
		{name: "verified module", path: "/module.wasm", sha256: sha},
		{name: "sha256 mismatch", path: "/module.wasm", sha256: fmt.Sprintf("%064x", 1), wantReason: ReasonFetchFailed},
		{name: "not found", path: "/missing.wasm", sha256: sha, wantReason: ReasonFetchFailed},
		{name: "forbidden", path: "/private.wasm", sha256: sha, wantReason: ReasonFetchFailed},
		{name: "too large by Content-Length", path: "/large.wasm", sha256: shaOf(large), wantReason: ReasonFetchFailed},
		{name: "too large while streaming", path: "/chunked.wasm", sha256: shaOf(large), wantReason: ReasonFetchFailed},
		{name: "not Wasm", path: "/text", sha256: shaOf([]byte("<html>not a module</html>")), wantReason: ReasonNotWasm, permanent: true},
		{name: "timeout", path: "/slow.wasm", sha256: sha, timeout: 200 * time.Millisecond, wantReason: ReasonFetchFailed},
		{name: "redirect to plain HTTP", path: "/plain-redirect", sha256: sha, wantReason: ReasonFetchFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			f := NewFetcher(FetcherConfig{Store: store, HTTPClient: srv.Client(), AllowLocalSources: true,
				MaxModuleBytes: 1024, Timeout: tt.timeout})
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
				Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{URL: srv.URL + tt.path, SHA256: tt.sha256}}}
			m, err := f.Fetch(t.Context(), wc)
			if tt.wantReason != "" {
				var me *Error
				if !errors.As(err, &me) || me.Reason != tt.wantReason || me.Permanent != tt.permanent {
					t.Fatalf("Fetch error = %#v, want reason %s permanent=%v", err, tt.wantReason, tt.permanent)
				}
				if _, n := store.Size(); n != 0 {
					t.Fatalf("a module that failed was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m.Release()
			if !bytes.Equal(m.Wasm, wasm) {
				t.Fatalf("Fetch = %q", m.Wasm)
			}
			// The second fetch is served by the store.
			before := requests.Load()
			m, err = f.Fetch(t.Context(), wc)
			if err != nil || !bytes.Equal(m.Wasm, wasm) {
				t.Fatalf("second Fetch = %q, %v", m.Wasm, err)
			}
			m.Release()
			if requests.Load() != before {
				t.Fatalf("the second fetch went to the server")
			}
		})
	}
}

func TestFetch_URLNeedsHTTPS(t *testing.T) {
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	wc := &v1alpha1.WasmController{Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{
		URL: "http://example.com/m.wasm", SHA256: strings.Repeat("a", 64)}}}
	_, err = NewFetcher(FetcherConfig{Store: store}).Fetch(t.Context(), wc)
	if ReasonOf(err) != ReasonInvalidReference || !IsPermanent(err) {
		t.Fatalf("Fetch of an http:// URL: %v, want a permanent InvalidReference", err)
	}
}
