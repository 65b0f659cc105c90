package modules

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// TestFetch_StoreReusesURLModulesForTheirURLOnly checks that a module
// downloaded from a URL is given, by its sha256, to that URL only: another
// URL naming the same sha256 must serve it itself.
func TestFetch_StoreReusesURLModulesForTheirURLOnly(t *testing.T) {
	wasm := wasmModule("private-url")
	sha := digestOf(wasm)[len("sha256:"):]
	var requests atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/private.wasm" && r.URL.Query().Get("token") == "s3cret" {
			_, _ = w.Write(wasm)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, HTTPClient: srv.Client(), AllowLocalSources: true})
	fetch := func(url string) (*Module, error) {
		return f.Fetch(t.Context(), &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
			Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{URL: url, SHA256: sha}}})
	}
	owner, err := fetch(srv.URL + "/private.wasm?token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Release()
	tests := []struct {
		name         string
		url          string
		wantModule   bool
		wantRequests int64
	}{
		{name: "another URL claiming the sha256", url: srv.URL + "/bogus.wasm", wantRequests: 1},
		{name: "the URL without its token", url: srv.URL + "/private.wasm", wantRequests: 1},
		{name: "the very URL, from the store", url: srv.URL + "/private.wasm?token=s3cret", wantModule: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := requests.Load()
			m, err := fetch(tt.url)
			if got := requests.Load() - before; got != tt.wantRequests {
				t.Errorf("%d requests to the server, want %d", got, tt.wantRequests)
			}
			if !tt.wantModule {
				if err == nil {
					m.Release()
					t.Fatalf("Fetch of %s returned the module another URL served", tt.url)
				}
				return
			}
			if err != nil || !bytes.Equal(m.Wasm, wasm) {
				t.Fatalf("Fetch = %v, want the module", err)
			}
			m.Release()
		})
	}
}

// TestFetch_StoreReusesImageModulesForWhoCanPull checks that a module
// pulled from a private repository is given by the store only to requests
// whose own credentials resolve its manifest in that repository.
func TestFetch_StoreReusesImageModulesForWhoCanPull(t *testing.T) {
	private := modulestest.NewPrivateRegistry(t, "robot", "s3cret")
	attacker := modulestest.NewRegistry(t)
	wasm := wasmModule("private-image")
	pinned, err := Push(t.Context(), wasm, modulestest.Reference(t, private.Ref("ctl/app:v1")), private.Auth()...)
	if err != nil {
		t.Fatal(err)
	}
	// A registry that claims the module's layer without holding it.
	layer := v1.Descriptor{MediaType: MediaTypeWasmLayer, Size: int64(len(wasm)), Digest: v1.Hash{Algorithm: "sha256", Hex: digestOf(wasm)[len("sha256:"):]}}
	claimed := attacker.PushManifest(t, attacker.Ref("ctl/claim:v1"), v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: MediaTypeWasmConfig, Size: 2, Digest: digestHash([]byte("{}"))}, Layers: []v1.Descriptor{layer}})
	kube := fake.NewClientset(dockerConfigSecret("pull", private.Host, "robot", "s3cret", false))
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true, ClientFor: asAnyone(kube)})
	owner, err := f.Fetch(t.Context(), imageController(private.Ref("ctl/app:v1"), "pull"))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Release()
	tests := []struct {
		name       string
		wc         *v1alpha1.WasmController
		wantReason string
		wantHead   bool
	}{
		{name: "pinned by digest without credentials", wc: imageController(pinned.String()), wantReason: ReasonUnauthorized, wantHead: true},
		{name: "pinned in status without credentials", wc: func() *v1alpha1.WasmController {
			wc := imageController(private.Ref("ctl/app:v1"))
			wc.Status.ResolvedImage = private.Ref("ctl/app:v1@" + pinned.DigestStr())
			return wc
		}(), wantReason: ReasonUnauthorized, wantHead: true},
		{name: "the manifest digest in another registry", wc: imageController(attacker.Ref("ctl/claim@" + pinned.DigestStr())),
			wantReason: ReasonImageNotFound},
		{name: "a manifest of another registry naming the layer", wc: imageController(attacker.Ref("ctl/claim:v1")),
			wantReason: ReasonImageNotFound},
		{name: "by the claiming manifest's digest", wc: imageController(attacker.Ref("ctl/claim@" + claimed.String())),
			wantReason: ReasonImageNotFound},
		{name: "pinned by digest with credentials, from the store", wc: imageController(pinned.String(), "pull"), wantHead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blobsBefore, headsBefore := private.BlobGets.Load(), private.ManifestHeads.Load()
			m, err := f.Fetch(t.Context(), tt.wc)
			if tt.wantReason != "" {
				if err == nil {
					m.Release()
					t.Fatalf("Fetch returned the module of a repository it cannot pull from")
				}
				if ReasonOf(err) != tt.wantReason {
					t.Fatalf("Fetch error = %v, want reason %s", err, tt.wantReason)
				}
			} else {
				if err != nil || !bytes.Equal(m.Wasm, wasm) {
					t.Fatalf("Fetch = %v, want the module", err)
				}
				m.Release()
				if got := private.BlobGets.Load() - blobsBefore; got != 0 {
					t.Errorf("%d blobs downloaded, want the module from the store", got)
				}
			}
			if got := private.ManifestHeads.Load() > headsBefore; got != tt.wantHead {
				t.Errorf("manifest resolved with a HEAD: %v, want %v", got, tt.wantHead)
			}
		})
	}
}

func digestHash(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: digestOf(b)[len("sha256:"):]}
}

// TestStore_SourceRecordsArePruned checks that the record of where a module
// came from survives a restart while the module does, and no longer.
func TestStore_SourceRecordsArePruned(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := s.Add(wasmModule("kept"))
	if err != nil {
		t.Fatal(err)
	}
	lease.Release()
	gone := digestOf([]byte("gone"))
	for _, d := range []string{lease.Digest(), gone} {
		if err := s.recordSource(sourceOfURL("https://example.com/m.wasm"), d); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.fetchedFrom(sourceOfURL("https://example.com/m.wasm"), lease.Digest()) {
		t.Error("the source of a stored module was forgotten")
	}
	if s2.fetchedFrom(sourceOfURL("https://example.com/m.wasm"), gone) {
		t.Error("the source of a module no longer stored was kept")
	}
	if s2.fetchedFrom(sourceOfURL("https://example.com/other.wasm"), lease.Digest()) {
		t.Error("a module is recorded from a URL it never came from")
	}
}
