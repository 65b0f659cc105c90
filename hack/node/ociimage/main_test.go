package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name       string
		entrypoint string
		tag        string
		wantFiles  map[string]int64 // path in the layer -> mode
		wantErr    bool
	}{
		{name: "root", entrypoint: "/pause", tag: "localhost/example/pause:1",
			wantFiles: map[string]int64{"pause": 0o755}},
		{name: "nested", entrypoint: "/usr/bin/agent", tag: "localhost/example/agent:1",
			wantFiles: map[string]int64{"usr/": 0o755, "usr/bin/": 0o755, "usr/bin/agent": 0o755}},
		{name: "relative entrypoint", entrypoint: "pause", tag: "localhost/example/pause:1", wantErr: true},
		{name: "bad tag", entrypoint: "/pause", tag: "Not A Tag", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			if err := os.WriteFile(bin, []byte("#!fake"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "image.tar")
			err := build(bin, tt.entrypoint, tt.tag, out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("build() error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			ref, err := name.NewTag(tt.tag)
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(out, &ref)
			if err != nil {
				t.Fatalf("image tarball does not name %s: %v", tt.tag, err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
				t.Errorf("platform = %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
			}
			if diff := cmp.Diff([]string{tt.entrypoint}, cfg.Config.Entrypoint); diff != "" {
				t.Errorf("entrypoint (-want +got):\n%s", diff)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers = %d, %v; want one", len(layers), err)
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got := map[string]int64{}
			tr := tar.NewReader(rc)
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got[hdr.Name] = hdr.Mode
			}
			if diff := cmp.Diff(tt.wantFiles, got); diff != "" {
				t.Errorf("layer files (-want +got):\n%s", diff)
			}
		})
	}
}
