package modules

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

func urlController(rawURL, sha256 string) *v1alpha1.WasmController {
	return &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
		Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{URL: rawURL, SHA256: sha256}}}
}

// closedAddress returns a loopback address where nothing listens.
func closedAddress(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestFetch_URLFailuresSayNothingOfTheNetwork checks that whatever a URL's
// host does, its tenant reads one message, which tells neither whether the
// host answered, nor its status, TLS, or what it served; the log has it.
func TestFetch_URLFailuresSayNothingOfTheNetwork(t *testing.T) {
	wasm := wasmModule("served")
	sha := digestOf(wasm)[len("sha256:"):]
	stop := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden":
			http.Error(w, "internal admin page", http.StatusForbidden)
		case "/error":
			http.Error(w, "stack trace", http.StatusInternalServerError)
		case "/other":
			_, _ = w.Write(wasmModule("other"))
		case "/large":
			_, _ = w.Write(make([]byte, 4096))
		case "/slow":
			<-stop // only the fetch's deadline ends it
			panic(http.ErrAbortHandler)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	tests := []struct {
		name, url, wantInLog string
	}{
		{name: "not found", url: srv.URL + "/missing", wantInLog: "404"},
		{name: "forbidden", url: srv.URL + "/forbidden", wantInLog: "403"},
		{name: "server error", url: srv.URL + "/error", wantInLog: "500"},
		{name: "other bytes", url: srv.URL + "/other", wantInLog: digestOf(wasmModule("other"))[len("sha256:"):]},
		{name: "too large", url: srv.URL + "/large", wantInLog: "limit"},
		{name: "timeout", url: srv.URL + "/slow", wantInLog: "deadline"},
		{name: "connection refused", url: "https://" + closedAddress(t) + "/m.wasm", wantInLog: "refused"},
		{name: "not TLS", url: "https://" + strings.TrimPrefix(plain.URL, "http://") + "/m.wasm", wantInLog: "HTTP response"},
		{name: "credentials in the URL", url: strings.Replace(srv.URL, "https://", "https://user:pass@", 1) + "/missing", wantInLog: "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			f := NewFetcher(FetcherConfig{Store: store, HTTPClient: srv.Client(), AllowLocalSources: true,
				MaxModuleBytes: 1024, Timeout: 300 * time.Millisecond})
			_, err = f.Fetch(t.Context(), urlController(tt.url, sha))
			u, _ := url.Parse(tt.url)
			want := fmt.Sprintf("no module with spec.module.sha256 could be fetched from %s (the server's log says why)", u.Redacted())
			if ReasonOf(err) != ReasonFetchFailed || IsPermanent(err) || err.Error() != want {
				t.Fatalf("Fetch error = %q (reason %s), want the retried FetchFailed %q", err, ReasonOf(err), want)
			}
			if got := detail(err); !strings.Contains(got, tt.wantInLog) {
				t.Errorf("the log says %q, want it to say %q", got, tt.wantInLog)
			}
		})
	}
}

// TestFetch_URLRefusesLocalHosts checks that, by default, a URL cannot make
// the server fetch from its own node or from link-local services.
func TestFetch_URLRefusesLocalHosts(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store})
	for _, host := range []string{"127.0.0.1", "localhost", "LOCALHOST.", "[::1]", "169.254.169.254", "[fe80::1]", "0.0.0.0", "[::ffff:127.0.0.1]"} {
		t.Run(host, func(t *testing.T) {
			_, err := f.Fetch(t.Context(), urlController("https://"+host+":"+port+"/m.wasm", strings.Repeat("a", 64)))
			if ReasonOf(err) != ReasonInvalidReference || !IsPermanent(err) {
				t.Fatalf("Fetch error = %v, want a permanent InvalidReference", err)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the local server", n)
	}
}

// TestHTTPClient_RefusesLocalAddresses checks the default client itself,
// which names and redirects resolving to local addresses meet.
func TestHTTPClient_RefusesLocalAddresses(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	if _, err := newHTTPClient(false).Get(srv.URL); !errors.Is(err, errLocalAddress) {
		t.Errorf("GET %s: %v, want %v", srv.URL, err, errLocalAddress)
	}
	if _, err := newHTTPClient(true).Get(srv.URL); err == nil || errors.Is(err, errLocalAddress) {
		t.Errorf("GET %s allowing local hosts: %v, want the untrusted certificate refused", srv.URL, err)
	}
	redirect, _ := http.NewRequest(http.MethodGet, "https://localhost/m.wasm", nil)
	if err := redirectPolicy(false)(redirect, nil); !errors.Is(err, errLocalAddress) {
		t.Errorf("redirect to localhost: %v, want %v", err, errLocalAddress)
	}
	if err := redirectPolicy(true)(redirect, nil); err != nil {
		t.Errorf("redirect to localhost allowing local hosts: %v", err)
	}
}

// TestFetch_RegistryFailuresSayNothingOfTheNetwork checks that an image's
// tenant reads what to act on, and not what the network or the registry
// said.
func TestFetch_RegistryFailuresSayNothingOfTheNetwork(t *testing.T) {
	private := modulestest.NewPrivateRegistry(t, "robot", "s3cret")
	tests := []struct {
		name, image, wantReason, wantInLog string
	}{
		{name: "nothing listens", image: closedAddress(t) + "/ctl/app:v1", wantReason: ReasonFetchFailed},
		{name: "refused credentials", image: private.Ref("ctl/app:v1"), wantReason: ReasonUnauthorized},
		{name: "the metadata service", image: "169.254.169.254/latest/meta-data:v1", wantReason: ReasonFetchFailed,
			wantInLog: errLocalAddress.Error()},
		{name: "unspecified address", image: "0.0.0.0:5000/ctl/app:v1", wantReason: ReasonFetchFailed, wantInLog: errLocalAddress.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true}).Fetch(t.Context(), imageController(tt.image))
			if ReasonOf(err) != tt.wantReason {
				t.Fatalf("Fetch error = %v, want reason %s", err, tt.wantReason)
			}
			if !strings.Contains(detail(err), tt.wantInLog) {
				t.Errorf("the log says %q, want it to say %q", detail(err), tt.wantInLog)
			}
			for _, leak := range []string{"dial", "refused", "connect", "authentication required", "GET", "http://"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("Fetch error %q says %q", err, leak)
				}
			}
		})
	}
}
