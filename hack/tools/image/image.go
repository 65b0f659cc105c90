package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed shape: where the binary goes and who runs it.
const (
	// Entrypoint is the server binary's path in the image.
	Entrypoint = "/wasm-apiserver"
	// User is the numeric user and group the server runs as, nonroot's
	// in distroless images; artifacts/statefulset.yaml runs it so too.
	User = "65532:65532"
	// StateDir is the default --state-dir, created owned by User so that
	// the image runs without a volume; a pod mounts one over it.
	StateDir = "/var/lib/wasm-apiserver"
)

// OCI label and annotation keys the image carries.
const (
	labelVersion  = "org.opencontainers.image.version"
	labelRevision = "org.opencontainers.image.revision"
	labelSource   = "org.opencontainers.image.source"
	labelCreated  = "org.opencontainers.image.created"
	labelTitle    = "org.opencontainers.image.title"
	labelDesc     = "org.opencontainers.image.description"
	// refName names the image in an OCI layout: the tag, per the image
	// spec; containerd reads the full name from imageName.
	refName   = "org.opencontainers.image.ref.name"
	imageName = "io.containerd.image.name"
)

// Spec is what the image is built from.
type Spec struct {
	// Ref names the image in the archives, such as
	// registry.example.com/wasm-apiserver:v0.1.0.
	Ref string
	// Version, Revision and Source become the OCI labels.
	Version, Revision, Source string
	// Epoch is the creation time in seconds since 1970, and every file's
	// modification time: the commit's time, so a commit gives one image.
	Epoch int64
	// Binaries are the static server binaries, one per platform, in the
	// order the index lists them.
	Binaries []Binary
}

// Binary is the server built for one platform.
type Binary struct {
	OS, Arch string
	// Path is the binary's file.
	Path string
}

// Built is the image: one per platform and the index over them.
type Built struct {
	Ref       name.Tag
	Index     v1.ImageIndex
	Platforms []PlatformImage
}

// PlatformImage is the image of one platform.
type PlatformImage struct {
	Platform v1.Platform
	Image    v1.Image
}

// Build assembles the image from spec. It reads only the binaries; nothing
// about the machine or the time it runs at enters the image.
//
// # Errors
//
// A missing field, a reference without a tag, two binaries for one platform
// or an unreadable binary.
func Build(spec Spec) (*Built, error) {
	ref, err := spec.validate()
	if err != nil {
		return nil, err
	}
	created := time.Unix(spec.Epoch, 0).UTC()
	labels := map[string]string{
		labelVersion:  spec.Version,
		labelRevision: spec.Revision,
		labelSource:   spec.Source,
		labelCreated:  created.Format(time.RFC3339),
		labelTitle:    "wasm-apiserver",
		labelDesc:     "Kubernetes aggregated API server that hosts controllers compiled to WebAssembly",
	}
	built := &Built{Ref: ref}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range spec.Binaries {
		bin, err := os.ReadFile(b.Path)
		if err != nil {
			return nil, fmt.Errorf("platform[%s/%s]: %w", b.OS, b.Arch, err)
		}
		img, err := platformImage(b, bin, created, labels)
		if err != nil {
			return nil, fmt.Errorf("platform[%s/%s]: %w", b.OS, b.Arch, err)
		}
		p := v1.Platform{OS: b.OS, Architecture: b.Arch}
		built.Platforms = append(built.Platforms, PlatformImage{Platform: p, Image: img})
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	built.Index = mutate.Annotations(idx, labels).(v1.ImageIndex)
	return built, nil
}

func (s Spec) validate() (name.Tag, error) {
	var errs []error
	for flag, v := range map[string]string{"image": s.Ref, "version": s.Version, "revision": s.Revision, "source": s.Source} {
		if v == "" {
			errs = append(errs, fmt.Errorf("--%s is required", flag))
		}
	}
	if s.Epoch < 0 {
		errs = append(errs, errors.New("--epoch is required (seconds since 1970, such as git log -1 --format=%ct)"))
	}
	if len(s.Binaries) == 0 {
		errs = append(errs, errors.New("at least one --platform is required"))
	}
	seen := map[string]bool{}
	for _, b := range s.Binaries {
		if seen[b.OS+"/"+b.Arch] {
			errs = append(errs, fmt.Errorf("platform[%s/%s] given twice", b.OS, b.Arch))
		}
		seen[b.OS+"/"+b.Arch] = true
	}
	var ref name.Tag
	if s.Ref != "" {
		var err error
		// A tag, so that docker load and ctr import name the image.
		if ref, err = name.NewTag(s.Ref, name.StrictValidation); err != nil {
			errs = append(errs, fmt.Errorf("--image %q: want a reference with a tag, such as registry.example.com/wasm-apiserver:v0.1.0: %w", s.Ref, err))
		}
	}
	return ref, errors.Join(errs...)
}

// platformImage is one layer with the binary on an empty base, configured
// to run it as User.
func platformImage(b Binary, bin []byte, created time.Time, labels map[string]string) (v1.Image, error) {
	layer, err := rootLayer(bin, created)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "hack/tools/image: " + Entrypoint + " on an empty base",
	}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = b.OS, b.Arch
	cfg.Created = v1.Time{Time: created}
	cfg.Config = v1.Config{
		Entrypoint: []string{Entrypoint},
		User:       User,
		WorkingDir: "/",
		Labels:     labels,
	}
	return mutate.ConfigFile(img, cfg)
}
