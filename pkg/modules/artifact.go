package modules

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the Wasm OCI layouts the host reads.
const (
	// MediaTypeWasmConfig is the config of the CNCF TAG Runtime Wasm OCI
	// artifact, which Push writes.
	MediaTypeWasmConfig = "application/vnd.wasm.config.v0+json"
	// MediaTypeWasmLayer is the one layer of the CNCF TAG Runtime Wasm OCI
	// artifact: the module's bytes.
	MediaTypeWasmLayer = "application/wasm"
	// MediaTypeWasmToOCILayer is the layer wasm-to-oci and Krustlet publish.
	MediaTypeWasmToOCILayer = "application/vnd.wasm.content.layer.v1+wasm"
	// MediaTypeModuleWasmLayer is the layer of the Solo.io / Istio Wasm
	// image specification ("oci" variant).
	MediaTypeModuleWasmLayer = "application/vnd.module.wasm.content.layer.v1+wasm"
)

// compatModuleFile is the file that holds the module in the single tar
// layer of the Solo.io / Istio "compat" Wasm image.
const compatModuleFile = "plugin.wasm"

// wasmLayerTypes are layers whose bytes are the module itself.
var wasmLayerTypes = []types.MediaType{MediaTypeWasmLayer, MediaTypeWasmToOCILayer, MediaTypeModuleWasmLayer}

// tarLayerTypes are the layers a "compat" image may use.
var tarLayerTypes = []types.MediaType{types.OCILayer, types.DockerLayer, types.OCIUncompressedLayer, types.DockerUncompressedLayer}

// moduleLayer is the layer of a manifest that holds the module.
type moduleLayer struct {
	v1.Descriptor
	// compat: the layer has a tar media type. It is a tar archive holding
	// plugin.wasm, or the module itself (what ORAS pushes by default).
	compat bool
}

// selectLayer finds the layer that holds the module: the one layer with a
// Wasm media type, whatever the config, or else the single tar layer of a
// "compat" image. Anything else is refused rather than guessed at.
func selectLayer(m *v1.Manifest) (moduleLayer, error) {
	var wasm []v1.Descriptor
	var seen []string
	for _, l := range m.Layers {
		seen = append(seen, string(l.MediaType))
		if slices.Contains(wasmLayerTypes, l.MediaType) {
			wasm = append(wasm, l)
		}
	}
	switch {
	case len(wasm) == 1:
		return moduleLayer{Descriptor: wasm[0]}, nil
	case len(wasm) > 1:
		return moduleLayer{}, permanent(ReasonUnsupportedArtifact, fmt.Sprintf(
			"the image has %d Wasm layers: which one to run is ambiguous, publish one module per image", len(wasm)), nil)
	case len(m.Layers) == 1 && slices.Contains(tarLayerTypes, m.Layers[0].MediaType):
		return moduleLayer{Descriptor: m.Layers[0], compat: true}, nil
	}
	return moduleLayer{}, permanent(ReasonUnsupportedArtifact, fmt.Sprintf(
		"the image is not a Wasm artifact this host reads (layers %q, config %q): publish it with `wasm-apiserver module push`, "+
			"or as one layer of type %s, %s or %s, or as one tar layer holding %s",
		seen, m.Config.MediaType, MediaTypeWasmLayer, MediaTypeWasmToOCILayer, MediaTypeModuleWasmLayer, compatModuleFile), nil)
}

// selectManifest picks, from an index, the manifest for Wasm: the one whose
// platform is wasm/wasip1 (or wasi), or the only one.
func selectManifest(idx *v1.IndexManifest) (v1.Descriptor, error) {
	var wasm []v1.Descriptor
	for _, d := range idx.Manifests {
		if d.Platform != nil && d.Platform.Architecture == "wasm" && (d.Platform.OS == "wasip1" || d.Platform.OS == "wasi") {
			wasm = append(wasm, d)
		}
	}
	switch {
	case len(wasm) == 1:
		return wasm[0], nil
	case len(wasm) == 0 && len(idx.Manifests) == 1:
		return idx.Manifests[0], nil
	}
	return v1.Descriptor{}, permanent(ReasonUnsupportedArtifact, fmt.Sprintf(
		"the image index has %d manifests, %d of them for the wasm/wasip1 platform: exactly one is needed", len(idx.Manifests), len(wasm)), nil)
}

// extractCompat returns plugin.wasm from a "compat" layer: a tar archive,
// gzip-compressed or not, read up to limit bytes of module.
func extractCompat(layer []byte, limit int64) ([]byte, error) {
	var r io.Reader = bytes.NewReader(layer)
	if len(layer) >= 2 && layer[0] == 0x1f && layer[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, permanent(ReasonUnsupportedArtifact, "the image's tar layer is not a valid (gzip-compressed) tar archive", err)
		}
		// Bounds the work a compressed archive of other files can cause.
		r = io.LimitReader(zr, 2*limit+1<<20)
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, permanent(ReasonUnsupportedArtifact, fmt.Sprintf("the image's tar layer holds no %s", compatModuleFile), nil)
		}
		if err != nil {
			return nil, permanent(ReasonUnsupportedArtifact, "the image's tar layer is not a valid (gzip-compressed) tar archive", err)
		}
		if hdr.Typeflag != tar.TypeReg || path.Clean(strings.TrimPrefix(hdr.Name, "/")) != compatModuleFile {
			continue
		}
		if hdr.Size > limit {
			return nil, tooLarge(hdr.Size, limit)
		}
		wasm, err := io.ReadAll(io.LimitReader(tr, limit+1))
		if err != nil {
			return nil, permanent(ReasonUnsupportedArtifact, "the image's tar layer is not a valid (gzip-compressed) tar archive", err)
		}
		if int64(len(wasm)) > limit {
			return nil, tooLarge(int64(len(wasm)), limit)
		}
		return wasm, nil
	}
}
