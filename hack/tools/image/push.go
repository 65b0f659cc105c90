package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push sends the multi-platform image of the OCI layout tar at from to ref,
// with the credentials of the Docker config, and prints the pushed digest.
func Push(ctx context.Context, from, ref string, out io.Writer) error {
	tag, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("--image %q: %w", ref, err)
	}
	dir, err := os.MkdirTemp("", "wasm-apiserver-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	idx, err := readOCIArchive(from, dir)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(tag, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s@%s\n", tag.Context().Name(), digest)
	return nil
}

// readOCIArchive unpacks an OCI layout tar into dir and returns the index
// its index.json names. The index reads its blobs from dir when used.
func readOCIArchive(path, dir string) (v1.ImageIndex, error) {
	if err := untar(path, dir); err != nil {
		return nil, err
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("reading %s: index.json names %d images, want 1", path, len(m.Manifests))
	}
	return top.ImageIndex(m.Manifests[0].Digest)
}

// untar extracts the regular files and directories of a tar under dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("reading %s: entry %q leaves the archive", path, h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeFile(target, func(w io.Writer) error { _, err := io.Copy(w, tr); return err }); err != nil {
				return err
			}
		}
	}
}
