package modules

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

func imageController(image string, secrets ...string) *v1alpha1.WasmController {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
		Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{Image: image}}}
	for _, s := range secrets {
		wc.Spec.Module.ImagePullSecrets = append(wc.Spec.Module.ImagePullSecrets, v1alpha1.LocalObjectReference{Name: s})
	}
	return wc
}

func dockerConfigSecret(name, host, user, password string, legacy bool) *corev1.Secret {
	entry := map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	if legacy {
		b, _ := json.Marshal(map[string]any{"https://" + host: entry})
		s.Type, s.Data = corev1.SecretTypeDockercfg, map[string][]byte{corev1.DockerConfigKey: b}
	} else {
		b, _ := json.Marshal(map[string]any{"auths": map[string]any{host: entry}})
		s.Type, s.Data = corev1.SecretTypeDockerConfigJson, map[string][]byte{corev1.DockerConfigJsonKey: b}
	}
	return s
}

func TestFetch_Image(t *testing.T) {
	open, private := modulestest.NewRegistry(t), modulestest.NewPrivateRegistry(t, "robot", "s3cret")
	corrupt := modulestest.NewRegistry(t)

	wasm := wasmModule("controller")
	pushed, err := Push(t.Context(), wasm, modulestest.Reference(t, open.Ref("ctl/cncf:v1")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Push(t.Context(), wasm, modulestest.Reference(t, private.Ref("ctl/private:v1")), private.Auth()...); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(t.Context(), wasm, modulestest.Reference(t, corrupt.Ref("ctl/cncf:v1"))); err != nil {
		t.Fatal(err)
	}
	corrupt.Corrupt.Store(true)
	for _, p := range []struct {
		repo   string
		config types.MediaType
		layer  types.MediaType
		body   []byte
	}{
		{"ctl/wasm-to-oci:v1", "application/vnd.wasm.config.v1+json", MediaTypeWasmToOCILayer, wasm},
		{"ctl/solo:v1", "application/vnd.module.wasm.config.v1+json", MediaTypeModuleWasmLayer, wasm},
		{"ctl/compat:v1", types.OCIConfigJSON, types.OCILayer, modulestest.CompatLayer(t, wasm)},
		{"ctl/oras:v1", "application/vnd.oci.empty.v1+json", types.OCIUncompressedLayer, wasm},
		{"ctl/not-wasm:v1", MediaTypeWasmConfig, MediaTypeWasmLayer, []byte("#!/bin/sh\necho not wasm\n")},
		{"ctl/component:v1", MediaTypeWasmConfig, MediaTypeWasmLayer, []byte("\x00asm\x0d\x00\x01\x00component")},
		{"ctl/large:v1", MediaTypeWasmConfig, MediaTypeWasmLayer, append(wasmModule("large"), make([]byte, 4096)...)},
	} {
		open.Push(t, open.Ref(p.repo), p.config, modulestest.Layer{MediaType: p.layer, Bytes: p.body})
	}
	open.Push(t, open.Ref("ctl/container:v1"), types.OCIConfigJSON,
		modulestest.Layer{MediaType: types.OCILayer, Bytes: []byte("a")}, modulestest.Layer{MediaType: types.OCIUncompressedLayer, Bytes: []byte("b")})
	open.Push(t, open.Ref("ctl/two:v1"), MediaTypeWasmConfig,
		modulestest.Layer{MediaType: MediaTypeWasmLayer, Bytes: wasm}, modulestest.Layer{MediaType: MediaTypeWasmToOCILayer, Bytes: wasm})
	pushIndex(t, open.Ref("ctl/index:v1"), pushed)

	kube := fake.NewClientset(
		dockerConfigSecret("pull", private.Host, "robot", "s3cret", false),
		dockerConfigSecret("legacy", private.Host, "robot", "s3cret", true),
		dockerConfigSecret("wrong", private.Host, "robot", "guess", false),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "opaque"}, Type: corev1.SecretTypeOpaque},
	)
	tests := []struct {
		name       string
		wc         *v1alpha1.WasmController
		wantReason string
		permanent  bool
	}{
		{name: "CNCF Wasm artifact by tag", wc: imageController(open.Ref("ctl/cncf:v1"))},
		{name: "CNCF Wasm artifact by digest", wc: imageController(pushed.String())},
		{name: "wasm-to-oci layout", wc: imageController(open.Ref("ctl/wasm-to-oci:v1"))},
		{name: "Solo/Istio oci layout", wc: imageController(open.Ref("ctl/solo:v1"))},
		{name: "Istio compat image", wc: imageController(open.Ref("ctl/compat:v1"))},
		{name: "ORAS push without a media type", wc: imageController(open.Ref("ctl/oras:v1"))},
		{name: "index with a wasm/wasip1 manifest", wc: imageController(open.Ref("ctl/index:v1"))},
		{name: "private registry with a dockerconfigjson secret", wc: imageController(private.Ref("ctl/private:v1"), "pull")},
		{name: "private registry with a legacy dockercfg secret", wc: imageController(private.Ref("ctl/private:v1"), "legacy")},
		{name: "wrong sha256", wc: func() *v1alpha1.WasmController {
			wc := imageController(open.Ref("ctl/cncf:v1"))
			wc.Spec.Module.SHA256 = fmt.Sprintf("%064x", 1)
			return wc
		}(), wantReason: ReasonDigestMismatch, permanent: true},
		{name: "registry serves other bytes than the digest", wc: imageController(corrupt.Ref("ctl/cncf:v1")),
			wantReason: ReasonDigestMismatch, permanent: true},
		{name: "missing tag", wc: imageController(open.Ref("ctl/cncf:v2")), wantReason: ReasonImageNotFound},
		{name: "missing repository", wc: imageController(open.Ref("ctl/nothing:v1")), wantReason: ReasonImageNotFound},
		{name: "missing digest", wc: imageController(open.Ref("ctl/cncf@sha256:" + fmt.Sprintf("%064x", 7))), wantReason: ReasonImageNotFound},
		{name: "unauthorized without a secret", wc: imageController(private.Ref("ctl/private:v1")), wantReason: ReasonUnauthorized},
		{name: "unauthorized with a wrong password", wc: imageController(private.Ref("ctl/private:v1"), "wrong"), wantReason: ReasonUnauthorized},
		{name: "missing pull secret", wc: imageController(private.Ref("ctl/private:v1"), "absent"), wantReason: ReasonPullSecretInvalid},
		{name: "pull secret of another type", wc: imageController(private.Ref("ctl/private:v1"), "opaque"), wantReason: ReasonPullSecretInvalid},
		{name: "oversized", wc: imageController(open.Ref("ctl/large:v1")), wantReason: ReasonModuleTooLarge, permanent: true},
		{name: "bytes that are not Wasm", wc: imageController(open.Ref("ctl/not-wasm:v1")), wantReason: ReasonNotWasm, permanent: true},
		{name: "a Wasm component", wc: imageController(open.Ref("ctl/component:v1")), wantReason: ReasonNotWasm, permanent: true},
		{name: "container image", wc: imageController(open.Ref("ctl/container:v1")), wantReason: ReasonUnsupportedArtifact, permanent: true},
		{name: "two Wasm layers", wc: imageController(open.Ref("ctl/two:v1")), wantReason: ReasonUnsupportedArtifact, permanent: true},
		{name: "invalid reference", wc: imageController("Not A Reference"), wantReason: ReasonInvalidReference, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := OpenStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			f := NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true, ClientFor: asAnyone(kube), MaxModuleBytes: 1024})
			m, err := f.Fetch(t.Context(), tt.wc)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				defer m.Release()
				if !bytes.Equal(m.Wasm, wasm) || m.Digest != digestOf(wasm) {
					t.Fatalf("Fetch = %q (%s), want the module", m.Wasm, m.Digest)
				}
				if _, err := name.NewDigest(m.ResolvedImage); err != nil {
					t.Fatalf("ResolvedImage %q is not a reference by digest: %v", m.ResolvedImage, err)
				}
				if _, n := store.Size(); n != 1 {
					t.Fatalf("the store holds %d modules, want 1", n)
				}
				return
			}
			var me *Error
			if !errors.As(err, &me) || me.Reason != tt.wantReason || me.Permanent != tt.permanent {
				t.Fatalf("Fetch error = %#v, want reason %s permanent=%v", err, tt.wantReason, tt.permanent)
			}
			if m != nil {
				t.Fatalf("Fetch returned a module with an error")
			}
			t.Logf("%s: %v", me.Reason, me)
		})
	}
}

// pushIndex tags ref with an index holding the Wasm artifact for
// wasip1/wasm beside a container image for linux/amd64.
func pushIndex(t *testing.T, ref string, artifact name.Digest) {
	t.Helper()
	desc, err := remote.Get(artifact)
	if err != nil {
		t.Fatal(err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "wasip1", Architecture: "wasm"}}})
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
}
