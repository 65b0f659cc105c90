package modules

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

func TestFetch_ImagePullPolicy(t *testing.T) {
	reg := modulestest.NewRegistry(t)
	ref := reg.Ref("ctl/moving:stable")
	v1, v2 := wasmModule("version1"), wasmModule("version2")
	if _, err := Push(t.Context(), v1, modulestest.Reference(t, ref)); err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true})
	first, err := f.Fetch(t.Context(), imageController(ref))
	if err != nil {
		t.Fatal(err)
	}
	first.Release()
	if !strings.HasPrefix(first.ResolvedImage, ref+"@sha256:") {
		t.Fatalf("ResolvedImage = %q, want %s pinned by digest", first.ResolvedImage, ref)
	}
	if _, err := Push(t.Context(), v2, modulestest.Reference(t, ref)); err != nil { // the tag moves
		t.Fatal(err)
	}
	loaded := func(policy v1alpha1.PullPolicy, image string) *v1alpha1.WasmController {
		wc := imageController(image)
		wc.Spec.Module.ImagePullPolicy = policy
		wc.Status.ResolvedImage, wc.Status.ModuleDigest = first.ResolvedImage, first.Digest
		return wc
	}
	emptyStore, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		fetcher      *Fetcher
		wc           *v1alpha1.WasmController
		want         []byte
		wantBlobGets bool
	}{
		{name: "IfNotPresent keeps the pinned module, from the store", fetcher: f,
			wc: loaded(v1alpha1.PullIfNotPresent, ref), want: v1},
		{name: "IfNotPresent pulls the pinned digest when the store lost it", fetcher: NewFetcher(FetcherConfig{Store: emptyStore, AllowLocalSources: true}),
			wc: loaded("", ref), want: v1, wantBlobGets: true},
		{name: "Always resolves the tag again", fetcher: f, wc: loaded(v1alpha1.PullAlways, ref), want: v2, wantBlobGets: true},
		{name: "the pin names the module, not status.moduleDigest", fetcher: f, wc: func() *v1alpha1.WasmController {
			wc := loaded(v1alpha1.PullIfNotPresent, ref)
			wc.Status.ModuleDigest = digestOf(v2) // in the store, but not what the pinned manifest holds
			return wc
		}(), want: v1},
		{name: "another image is resolved", fetcher: f, wc: loaded(v1alpha1.PullIfNotPresent, reg.Ref("ctl/moving")), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reg.BlobGets.Load()
			m, err := tt.fetcher.Fetch(t.Context(), tt.wc)
			if tt.want == nil {
				if err == nil || ReasonOf(err) != ReasonImageNotFound {
					t.Fatalf("Fetch of an untagged repository: %v, want ImageNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release()
			if !bytes.Equal(m.Wasm, tt.want) {
				t.Fatalf("Fetch = %q, want %q", m.Wasm, tt.want)
			}
			if got := reg.BlobGets.Load() > before; got != tt.wantBlobGets {
				t.Fatalf("blobs downloaded: %v, want %v", got, tt.wantBlobGets)
			}
			if tt.want[len(tt.want)-1] == v1[len(v1)-1] && m.ResolvedImage != first.ResolvedImage {
				t.Fatalf("ResolvedImage = %q, want the pin %q", m.ResolvedImage, first.ResolvedImage)
			}
		})
	}
}

// TestFetch_PinnedCompatImageFromStore loads an image named by digest,
// whose module digest its manifest does not tell, from the store.
func TestFetch_PinnedCompatImageFromStore(t *testing.T) {
	reg := modulestest.NewRegistry(t)
	wasm := wasmModule("compat")
	manifest := reg.Push(t, reg.Ref("ctl/compat:v1"), "application/vnd.oci.image.config.v1+json",
		modulestest.Layer{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Bytes: modulestest.CompatLayer(t, wasm)})
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	wc := imageController(reg.Ref("ctl/compat@" + manifest.String()))
	for i, wantDownloads := range []int64{1, 0} {
		before := reg.BlobGets.Load()
		m, err := NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true}).Fetch(t.Context(), wc)
		if err != nil || !bytes.Equal(m.Wasm, wasm) {
			t.Fatalf("fetch %d: %v", i, err)
		}
		m.Release()
		if got := reg.BlobGets.Load() - before; got != wantDownloads {
			t.Errorf("fetch %d downloaded %d blobs, want %d", i, got, wantDownloads)
		}
	}
}
