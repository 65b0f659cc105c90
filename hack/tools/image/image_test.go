package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const testEpoch = 1700000000

// testSpec is a two-platform spec over fake binaries written into dir.
func testSpec(t *testing.T, dir string) Spec {
	t.Helper()
	spec := Spec{Ref: "registry.example.com/wasm-apiserver:v1.2.3", Version: "v1.2.3",
		Revision: "0123456789abcdef0123456789abcdef01234567", Source: "https://github.com/wasm-apiserver/wasm-apiserver",
		Epoch: testEpoch}
	for _, arch := range []string{"amd64", "arm64"} {
		path := filepath.Join(dir, arch, "wasm-apiserver")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("\x7fELF server for "+arch), 0o755); err != nil {
			t.Fatal(err)
		}
		spec.Binaries = append(spec.Binaries, Binary{OS: "linux", Arch: arch, Path: path})
	}
	return spec
}

// buildArchives builds spec and writes its archives into a new directory.
func buildArchives(t *testing.T, spec Spec) (*Built, map[string][32]byte) {
	t.Helper()
	built, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	files, err := built.WriteArchives(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string][32]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sums[filepath.Base(f)] = sha256.Sum256(b)
	}
	return built, sums
}

func TestBuild_Reproducible(t *testing.T) {
	spec := testSpec(t, t.TempDir())
	first, firstFiles := buildArchives(t, spec)

	// The same binaries copied elsewhere, with other times, built in a later
	// second: a time taken from the clock or the files would show.
	time.Sleep(1100 * time.Millisecond)
	again := testSpec(t, t.TempDir())
	for _, b := range again.Binaries {
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(b.Path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	second, secondFiles := buildArchives(t, again)

	d1, _ := first.Index.Digest()
	d2, _ := second.Index.Digest()
	if d1 != d2 {
		t.Errorf("index digest %s then %s", d1, d2)
	}
	if diff := cmp.Diff(firstFiles, secondFiles); diff != "" {
		t.Errorf("archives differ between builds (-first +second):\n%s", diff)
	}
	if len(firstFiles) != 3 {
		t.Errorf("archives = %d, want the OCI layout and two Docker archives", len(firstFiles))
	}

	// Another revision is another image.
	spec.Revision = strings.Repeat("f", 40)
	third, _ := Build(spec)
	if d3, _ := third.Index.Digest(); d3 == d1 {
		t.Errorf("a different revision gave the same digest %s", d3)
	}
}

func TestBuild_Config(t *testing.T) {
	built, err := Build(testSpec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(testEpoch, 0).UTC()
	wantLabels := map[string]string{
		labelVersion: "v1.2.3", labelRevision: "0123456789abcdef0123456789abcdef01234567",
		labelSource: "https://github.com/wasm-apiserver/wasm-apiserver", labelCreated: "2023-11-14T22:13:20Z",
		labelTitle: "wasm-apiserver", labelDesc: "Kubernetes aggregated API server that hosts controllers compiled to WebAssembly",
	}
	var platforms []string
	for _, p := range built.Platforms {
		platforms = append(platforms, p.Platform.String())
		cfg, err := p.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != p.Platform.OS || cfg.Architecture != p.Platform.Architecture {
			t.Errorf("%s: config platform %s/%s", p.Platform, cfg.OS, cfg.Architecture)
		}
		if !cfg.Created.Time.Equal(created) {
			t.Errorf("%s: created %s, want %s", p.Platform, cfg.Created.Time, created)
		}
		want := v1.Config{Entrypoint: []string{"/wasm-apiserver"}, User: "65532:65532", WorkingDir: "/", Labels: wantLabels}
		if diff := cmp.Diff(want, cfg.Config); diff != "" {
			t.Errorf("%s: config (-want +got):\n%s", p.Platform, diff)
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	m, err := built.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range m.Manifests {
		if d.Platform == nil || d.Platform.String() != platforms[i] {
			t.Errorf("index entry %d platform = %v, want %s", i, d.Platform, platforms[i])
		}
	}
	if m.Annotations[labelRevision] != wantLabels[labelRevision] || m.Annotations[labelSource] != wantLabels[labelSource] {
		t.Errorf("index annotations = %v", m.Annotations)
	}
}

func TestBuild_Layer(t *testing.T) {
	spec := testSpec(t, t.TempDir())
	built, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Name     string
		Mode     int64
		UID, GID int
		Body     string
	}
	want := []entry{
		{Name: "etc/", Mode: 0o755},
		{Name: "etc/group", Mode: 0o644, Body: "root:x:0:\nnonroot:x:65532:\n"},
		{Name: "etc/passwd", Mode: 0o644, Body: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/wasm-apiserver:/sbin/nologin\n"},
		{Name: "var/", Mode: 0o755},
		{Name: "var/lib/", Mode: 0o755},
		{Name: "var/lib/wasm-apiserver/", Mode: 0o700, UID: 65532, GID: 65532},
		{Name: "wasm-apiserver", Mode: 0o555, UID: 65532, GID: 65532, Body: "\x7fELF server for arm64"},
	}
	layers, err := built.Platforms[1].Image.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []entry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, entry{Name: h.Name, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Body: string(body)})
		if !h.ModTime.Equal(time.Unix(testEpoch, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: times %s/%s/%s, names %q/%q; want only the epoch as mtime", h.Name, h.ModTime, h.AccessTime, h.ChangeTime, h.Uname, h.Gname)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
}

// TestWriteArchives_DockerLoad reads each Docker archive back the way
// docker load does: manifest.json names the tag, config and layers.
func TestWriteArchives_DockerLoad(t *testing.T) {
	built, err := Build(testSpec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := built.WriteArchives(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range built.Platforms {
		path := filepath.Join(dir, DockerArchive(p.Platform))
		m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != "registry.example.com/wasm-apiserver:v1.2.3" {
			t.Errorf("%s: manifest.json = %+v, want one image tagged registry.example.com/wasm-apiserver:v1.2.3", path, m)
		}
		tag, _ := name.NewTag("registry.example.com/wasm-apiserver:v1.2.3")
		loaded, err := tarball.ImageFromPath(path, &tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(loaded); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		wantCfg, _ := p.Image.ConfigName()
		if gotCfg, _ := loaded.ConfigName(); gotCfg != wantCfg {
			t.Errorf("%s: config %s, want %s", path, gotCfg, wantCfg)
		}
	}
}

// TestWriteArchives_OCILayout reads the OCI layout tar back: index.json
// names the image for containerd and holds both platforms.
func TestWriteArchives_OCILayout(t *testing.T) {
	built, err := Build(testSpec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := built.WriteArchives(dir); err != nil {
		t.Fatal(err)
	}
	unpacked := t.TempDir()
	idx, err := readOCIArchive(filepath.Join(dir, OCIArchive), unpacked)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Error(err)
	}
	want, _ := built.Index.Digest()
	if got, _ := idx.Digest(); got != want {
		t.Errorf("index digest %s, want %s", got, want)
	}
	top, err := layout.ImageIndexFromPath(unpacked)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := top.IndexManifest()
	wantAnn := map[string]string{refName: "v1.2.3", imageName: "registry.example.com/wasm-apiserver:v1.2.3"}
	if diff := cmp.Diff(wantAnn, m.Manifests[0].Annotations); diff != "" {
		t.Errorf("index.json annotations (-want +got):\n%s", diff)
	}
}

func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	built, err := Build(testSpec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := built.WriteArchives(dir); err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/wasm-apiserver:v1.2.3"
	var out bytes.Buffer
	if err := run(t.Context(), []string{"push", "--from", filepath.Join(dir, OCIArchive), "--image", ref}, &out); err != nil {
		t.Fatal(err)
	}
	want, _ := built.Index.Digest()
	if got := strings.TrimSpace(out.String()); !strings.HasSuffix(got, "@"+want.String()) {
		t.Errorf("push printed %q, want the index digest %s", got, want)
	}
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(parsed, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := pulled.Digest(); got != want {
		t.Errorf("pulled %s, want %s", got, want)
	}
	if err := validate.Index(pulled); err != nil {
		t.Error(err)
	}
}
