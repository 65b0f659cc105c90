package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCIArchive is the file name of the OCI image layout tar in build's output.
const OCIArchive = "wasm-apiserver.oci.tar"

// DockerArchive is the file name of a platform's Docker archive.
func DockerArchive(p v1.Platform) string {
	return fmt.Sprintf("wasm-apiserver-%s-%s.docker.tar", p.OS, p.Architecture)
}

// WriteArchives writes the OCI layout tar and a Docker archive per
// platform into dir, and returns their paths, the OCI layout first.
func (b *Built) WriteArchives(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, OCIArchive)
	if err := writeFile(path, b.writeOCILayout); err != nil {
		return nil, err
	}
	paths := []string{path}
	for _, p := range b.Platforms {
		path := filepath.Join(dir, DockerArchive(p.Platform))
		if err := writeFile(path, func(w io.Writer) error { return tarball.Write(b.Ref, p.Image, w) }); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// writeFile writes a file whole or not at all.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeOCILayout writes an OCI image layout whose index.json names the
// multi-platform index by the image's reference, as one tar with sorted
// entries and fixed times and owners.
func (b *Built) writeOCILayout(w io.Writer) error {
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	addBlob := func(raw []byte) {
		files["blobs/sha256/"+sha256Hex(raw)] = raw
	}
	rawIndex, err := b.Index.RawManifest()
	if err != nil {
		return err
	}
	addBlob(rawIndex)
	for _, p := range b.Platforms {
		for _, raw := range []func() ([]byte, error){p.Image.RawManifest, p.Image.RawConfigFile} {
			blob, err := raw()
			if err != nil {
				return err
			}
			addBlob(blob)
		}
		layers, err := p.Image.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			blob, err := readAll(l.Compressed)
			if err != nil {
				return err
			}
			addBlob(blob)
		}
	}
	digest, err := b.Index.Digest()
	if err != nil {
		return err
	}
	top := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
		MediaType: types.OCIImageIndex, Digest: digest, Size: int64(len(rawIndex)),
		Annotations: map[string]string{refName: b.Ref.TagStr(), imageName: b.Ref.Name()},
	}}}
	if files["index.json"], err = json.Marshal(top); err != nil {
		return err
	}
	return writeTar(w, files, time.Unix(0, 0))
}

// writeTar writes files sorted by name, with the directories they need.
func writeTar(w io.Writer, files map[string][]byte, mtime time.Time) error {
	names := []string{"blobs/", "blobs/sha256/"}
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		h := &tar.Header{Name: n, ModTime: mtime, Format: tar.FormatUSTAR, Typeflag: tar.TypeDir, Mode: 0o755}
		body, isFile := files[n]
		if isFile {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	return tw.Close()
}

func readAll(open func() (io.ReadCloser, error)) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, rc)
	return buf.Bytes(), err
}
