package modules

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// TestFetch_InsecureRegistry pulls from a registry that is not on loopback
// by name: over HTTPS unless it is listed as insecure.
func TestFetch_InsecureRegistry(t *testing.T) {
	reg := modulestest.NewRegistry(t)
	wasm := wasmModule("insecure")
	if _, err := Push(t.Context(), wasm, modulestest.Reference(t, reg.Ref("ctl/app:v1"))); err != nil {
		t.Fatal(err)
	}
	// Every connection goes to the test registry, whatever the name.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, reg.Host)
	}
	const registry = "registry.internal.test:5000"
	tests := []struct {
		name       string
		insecure   []string
		wantReason string
	}{
		{name: "listed as insecure: plain HTTP", insecure: []string{"other.test", registry}},
		{name: "not listed: HTTPS, which the registry does not speak", wantReason: ReasonFetchFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			f := NewFetcher(FetcherConfig{Store: store, RegistryTransport: transport, InsecureRegistries: tt.insecure})
			m, err := f.Fetch(t.Context(), imageController(registry+"/ctl/app:v1"))
			if tt.wantReason != "" {
				if ReasonOf(err) != tt.wantReason {
					t.Fatalf("Fetch error = %v, want reason %s", err, tt.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m.Release()
		})
	}
}
