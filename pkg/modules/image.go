package modules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
)

// fromImage pulls the module of wc's spec.module.image.
//
// A tag is resolved to a manifest digest, which Module.ResolvedImage pins.
// With the IfNotPresent policy (the default) a pin already recorded in
// status.resolvedImage for the same spec.module.image is reused, so that a
// moved tag changes nothing until the policy is Always or the spec names
// another image.
//
// The store gives a module only to a request whose credentials resolve, in
// the repository the module was pulled from, a manifest that holds it: an
// image pinned by digest costs the registry one HEAD of its manifest, and no
// download. A registry of the tenant's own that claims another's digests
// gets nothing from the store.
func (f *Fetcher) fromImage(ctx context.Context, wc *v1alpha1.WasmController) (*Module, error) {
	src := &wc.Spec.Module
	ref, err := f.parseReference(src.Image)
	if err != nil {
		return nil, err
	}
	pinned := pinnedImage(wc)
	if pinned != "" {
		if ref, err = f.parseReference(pinned); err != nil {
			return nil, err
		}
	}
	transport, err := f.registryTransport(src.Image, ref)
	if err != nil {
		return nil, err
	}
	keychain, err := f.pullSecretKeychain(ctx, wc)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain),
		remote.WithTransport(transport), remote.WithUserAgent("wasm-apiserver")}
	source := sourceOfImage(ref.Context().Name())
	if d, ok := ref.(name.Digest); ok {
		m, err := f.fromPin(source, d, opts)
		if err != nil {
			return nil, registryError(src.Image, err)
		}
		if m != nil {
			m.ResolvedImage = resolvedReference(src.Image, ref, d.DigestStr())
			if pinned != "" {
				m.ResolvedImage = pinned
			}
			return m, nil
		}
	}

	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, registryError(src.Image, err)
	}
	manifestDigest := desc.Digest.String()
	resolved := pinned
	if resolved == "" {
		resolved = resolvedReference(src.Image, ref, manifestDigest)
	}
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, permanent(ReasonUnsupportedArtifact, fmt.Sprintf("image %s: the index is not valid JSON of an OCI image index", src.Image), err)
		}
		child, err := selectManifest(idx)
		if err != nil {
			return nil, err
		}
		if desc, err = remote.Get(ref.Context().Digest(child.Digest.String()), opts...); err != nil {
			return nil, registryError(src.Image, err)
		}
	}
	if !desc.MediaType.IsImage() {
		return nil, permanent(ReasonUnsupportedArtifact, fmt.Sprintf("image %s: manifest media type %q is not an image manifest", src.Image, desc.MediaType), nil)
	}
	manifest, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, permanent(ReasonUnsupportedArtifact, fmt.Sprintf("image %s: the manifest is not valid JSON of an image manifest", src.Image), err)
	}
	layer, err := selectLayer(manifest)
	if err != nil {
		return nil, err
	}
	if layer.Size > f.cfg.MaxModuleBytes {
		return nil, tooLarge(layer.Size, f.cfg.MaxModuleBytes)
	}
	unlock, err := f.downloads.lock(ctx, source+"\x00"+layer.Digest.String())
	if err != nil {
		return nil, registryError(src.Image, err)
	}
	defer unlock()
	// The manifest was resolved with the request's credentials in this
	// repository: what the store holds from it may be given.
	if m := f.storedModule(source, manifestDigest, layer); m != nil {
		m.ResolvedImage = resolved
		return m, nil
	}
	blob, err := f.pullBlob(ref.Context().Digest(layer.Digest.String()), layer.Descriptor, opts)
	if err != nil {
		return nil, err
	}
	wasm := blob
	// A "tar" layer that holds the module's bytes as they are is what
	// `oras push REF controller.wasm` writes without a media type.
	if layer.compat && !wasmmodule.HasMagic(blob) {
		if wasm, err = extractCompat(blob, f.cfg.MaxModuleBytes); err != nil {
			return nil, err
		}
	}
	if err := CheckWasm(wasm); err != nil {
		return nil, err
	}
	lease, err := f.cfg.Store.Add(wasm)
	if err != nil {
		return nil, storageFailed(err)
	}
	if err := f.cfg.Store.recordSource(source, lease.Digest()); err != nil {
		lease.Release()
		return nil, storageFailed(err)
	}
	if err := f.cfg.Store.pin(manifestDigest, lease.Digest()); err != nil {
		klog.ErrorS(err, "Recording the module of a manifest", "image", src.Image)
	}
	return &Module{Wasm: wasm, ResolvedImage: resolved, lease: lease}, nil
}

// fromPin returns the module the store recorded for the manifest ref names,
// once the manifest is resolved in ref's repository with the request's
// credentials (a HEAD); nil when the store holds no such module from that
// repository, without asking the registry.
func (f *Fetcher) fromPin(source string, ref name.Digest, opts []remote.Option) (*Module, error) {
	moduleDigest, ok := f.cfg.Store.pinned(ref.DigestStr())
	if !ok || !f.cfg.Store.fetchedFrom(source, moduleDigest) {
		return nil, nil
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return nil, err
	}
	if desc.Digest.String() != ref.DigestStr() {
		return nil, nil // a registry that answers for another manifest: pull it to see
	}
	wasm, lease, err := f.cfg.Store.acquireFrom(source, moduleDigest)
	if err != nil {
		return nil, nil
	}
	return &Module{Wasm: wasm, lease: lease, fromStore: true}, nil
}

// storedModule returns the module of a resolved manifest when the store
// holds it from source: by the manifest's pin, or by the layer's digest
// when the layer is the module.
func (f *Fetcher) storedModule(source, manifestDigest string, layer moduleLayer) *Module {
	moduleDigest, ok := f.cfg.Store.pinned(manifestDigest)
	if !ok && !layer.compat {
		moduleDigest, ok = layer.Digest.String(), true
	}
	if !ok {
		return nil
	}
	wasm, lease, err := f.cfg.Store.acquireFrom(source, moduleDigest)
	if err != nil {
		return nil
	}
	if !layer.compat {
		_ = f.cfg.Store.pin(manifestDigest, lease.Digest())
	}
	return &Module{Wasm: wasm, lease: lease, fromStore: true}
}

// pullBlob downloads one layer, bounded by the module size limit, and
// checks it against its digest.
func (f *Fetcher) pullBlob(ref name.Digest, want v1.Descriptor, opts []remote.Option) ([]byte, error) {
	layer, err := remote.Layer(ref, opts...)
	if err != nil {
		return nil, registryError(ref.String(), err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, registryError(ref.String(), err)
	}
	defer rc.Close()
	h := sha256.New()
	b, err := io.ReadAll(io.TeeReader(io.LimitReader(rc, f.cfg.MaxModuleBytes+1), h))
	if int64(len(b)) > f.cfg.MaxModuleBytes {
		return nil, tooLarge(int64(len(b)), f.cfg.MaxModuleBytes)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	mismatch := func(err error) *Error {
		e := permanent(ReasonDigestMismatch, fmt.Sprintf(
			"layer %s: the registry served other bytes than the manifest names: the module will not run", ref), err)
		e.detail = fmt.Sprintf("served %d bytes with digest %s, the manifest says %d bytes", len(b), got, want.Size)
		return e
	}
	if int64(len(b)) == want.Size && got != want.Digest.String() {
		return nil, mismatch(err) // read in full, yet not the bytes the manifest names
	}
	if err != nil {
		return nil, registryError(ref.String(), err)
	}
	if got != want.Digest.String() {
		return nil, mismatch(nil)
	}
	return b, nil
}

// parseReference parses an image reference, over plain HTTP for the
// registries configured as insecure.
func (f *Fetcher) parseReference(image string) (name.Reference, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, permanent(ReasonInvalidReference, fmt.Sprintf("spec.module.image %q: %v", image, err), err)
	}
	if slices.Contains(f.cfg.InsecureRegistries, ref.Context().RegistryStr()) {
		ref, err = name.ParseReference(image, name.Insecure)
		if err != nil {
			return nil, permanent(ReasonInvalidReference, fmt.Sprintf("spec.module.image %q: %v", image, err), err)
		}
	}
	return ref, nil
}

// registryTransport returns the transport for ref's registry: one that may
// reach local addresses for a local registry the administrator listed as
// insecure, one that may not for the others (a listed remote registry's
// redirects included). A registry that is local by its very name is
// refused here, with a clear reason, unless allowed.
func (f *Fetcher) registryTransport(image string, ref name.Reference) (http.RoundTripper, error) {
	registry := ref.Context().RegistryStr()
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	local := isLocalHost(host)
	if local && slices.Contains(f.cfg.InsecureRegistries, registry) {
		return f.localRegistryTransport, nil
	}
	if !f.cfg.AllowLocalSources && local {
		return nil, permanent(ReasonInvalidReference, fmt.Sprintf(
			"spec.module.image %q names a loopback or link-local registry, which this server does not pull from", image), nil)
	}
	return f.cfg.RegistryTransport, nil
}

// pinnedImage returns the reference by digest recorded for the same
// spec.module.image, when the pull policy lets it be reused.
func pinnedImage(wc *v1alpha1.WasmController) string {
	src, resolved := &wc.Spec.Module, wc.Status.ResolvedImage
	if src.ImagePullPolicy == v1alpha1.PullAlways || resolved == "" {
		return ""
	}
	if resolved == src.Image || strings.HasPrefix(resolved, src.Image+"@sha256:") {
		return resolved
	}
	return ""
}

// resolvedReference pins image to digest: "image@sha256:..." for a tag, the
// reference itself when it already names a digest.
func resolvedReference(image string, ref name.Reference, digest string) string {
	if _, ok := ref.(name.Digest); ok {
		return image
	}
	return image + "@" + digest
}
