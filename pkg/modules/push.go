package modules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// wasmConfig is the config blob of the CNCF TAG Runtime Wasm OCI artifact.
type wasmConfig struct {
	Created      string   `json:"created,omitempty"`
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	LayerDigests []string `json:"layerDigests"`
}

// rawManifest is a manifest already serialized, for remote.Put.
type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// Push uploads wasm to the registry as a CNCF TAG Runtime Wasm OCI
// artifact (config application/vnd.wasm.config.v0+json, one
// application/wasm layer) and tags it ref (parse it with name.Insecure to
// speak plain HTTP to a registry that is not on loopback). It returns the reference by
// digest that a WasmController can pin.
//
// # Errors
//
// An *Error with ReasonNotWasm when wasm is not a core module; the registry
// client's errors otherwise.
func Push(ctx context.Context, wasm []byte, tag name.Reference, opts ...remote.Option) (name.Digest, error) {
	if err := CheckWasm(wasm); err != nil {
		return name.Digest{}, err
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	module := static.NewLayer(wasm, MediaTypeWasmLayer)
	moduleDesc, err := describe(module, MediaTypeWasmLayer)
	if err != nil {
		return name.Digest{}, err
	}
	cfg, err := json.Marshal(wasmConfig{Created: time.Now().UTC().Format(time.RFC3339), Architecture: "wasm", OS: "wasip1",
		LayerDigests: []string{moduleDesc.Digest.String()}})
	if err != nil {
		return name.Digest{}, err
	}
	config := static.NewLayer(cfg, MediaTypeWasmConfig)
	configDesc, err := describe(config, MediaTypeWasmConfig)
	if err != nil {
		return name.Digest{}, err
	}
	for _, blob := range []v1.Layer{config, module} {
		if err := remote.WriteLayer(tag.Context(), blob, opts...); err != nil {
			return name.Digest{}, fmt.Errorf("pushing to %s: %w", tag.Context(), err)
		}
	}
	body, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: configDesc, Layers: []v1.Descriptor{moduleDesc}})
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Put(tag, rawManifest{body: body, mediaType: types.OCIManifestSchema1}, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing manifest to %s: %w", tag, err)
	}
	digest, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return name.Digest{}, err
	}
	return tag.Context().Digest(digest.String()), nil
}

func describe(l v1.Layer, mt types.MediaType) (v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}
