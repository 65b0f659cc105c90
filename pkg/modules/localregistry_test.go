package modules

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// TestFetch_ImageRefusesLocalRegistries checks that a tenant's image
// reference cannot make the server speak to its own node or to link-local
// services, unless the administrator named the registry or allowed local
// sources.
func TestFetch_ImageRefusesLocalRegistries(t *testing.T) {
	reg := modulestest.NewRegistry(t)
	if _, err := Push(t.Context(), wasmModule("local"), modulestest.Reference(t, reg.Ref("ctl/app:v1"))); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(reg.Host)
	refused := []string{
		reg.Ref("ctl/app:v1"),
		"localhost:" + port + "/ctl/app:v1",
		"[::1]:" + port + "/ctl/app:v1",
		"169.254.169.254/latest/meta-data:v1",
		"0.0.0.0:" + port + "/ctl/app:v1",
	}
	for _, image := range refused {
		t.Run("refused "+image, func(t *testing.T) {
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			before := reg.ManifestHeads.Load() + reg.BlobGets.Load()
			_, err = NewFetcher(FetcherConfig{Store: store}).Fetch(t.Context(), imageController(image))
			if ReasonOf(err) != ReasonInvalidReference || !IsPermanent(err) {
				t.Fatalf("Fetch error = %v, want a permanent InvalidReference", err)
			}
			if !strings.Contains(err.Error(), "loopback or link-local registry") {
				t.Errorf("Fetch error = %q, want it to say the registry is local", err)
			}
			if n := reg.ManifestHeads.Load() + reg.BlobGets.Load() - before; n != 0 {
				t.Errorf("%d requests reached the local registry", n)
			}
		})
	}

	allowed := []struct {
		name string
		cfg  FetcherConfig
	}{
		{name: "listed by the administrator", cfg: FetcherConfig{InsecureRegistries: []string{reg.Host}}},
		{name: "local sources allowed", cfg: FetcherConfig{AllowLocalSources: true}},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.cfg.Store = store
			m, err := NewFetcher(tt.cfg).Fetch(t.Context(), imageController(reg.Ref("ctl/app:v1")))
			if err != nil {
				t.Fatal(err)
			}
			m.Release()
		})
	}
}

// TestRegistryTransport_RefusesLocalAddresses checks the default registry
// transport itself, which names resolving to local addresses and a remote
// registry's redirects (blob downloads go elsewhere) meet.
func TestRegistryTransport_RefusesLocalAddresses(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	get := func(rt http.RoundTripper, url string) error {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(newRegistryTransport(false), srv.URL); !errors.Is(err, errLocalAddress) {
		t.Errorf("GET %s: %v, want %v", srv.URL, err, errLocalAddress)
	}
	if err := get(newRegistryTransport(true), srv.URL); err != nil {
		t.Errorf("GET %s allowing local registries: %v", srv.URL, err)
	}
	for _, allowLocal := range []bool{false, true} {
		if err := get(newRegistryTransport(allowLocal), "http://169.254.169.254/v2/"); !errors.Is(err, errLocalAddress) {
			t.Errorf("GET of the metadata service (allowLocal %v): %v, want %v", allowLocal, err, errLocalAddress)
		}
	}
}

// TestFetch_ListedRemoteRegistryMayNotReachLocal: listing a remote registry
// as insecure lets it speak plain HTTP, not reach the server's own node
// through its redirects.
func TestFetch_ListedRemoteRegistryMayNotReachLocal(t *testing.T) {
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, InsecureRegistries: []string{"registry.example.test:5000", "127.0.0.1:5000"}})
	for image, wantLocal := range map[string]bool{
		"registry.example.test:5000/ctl/app:v1": false,
		"127.0.0.1:5000/ctl/app:v1":             true,
	} {
		ref, err := f.parseReference(image)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := f.registryTransport(image, ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := rt == f.localRegistryTransport; got != wantLocal {
			t.Errorf("%s: transport that may reach local addresses = %v, want %v", image, got, wantLocal)
		}
	}
}
