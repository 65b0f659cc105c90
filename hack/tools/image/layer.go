package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rootEntry is one file or directory of the image's only layer.
type rootEntry struct {
	path     string
	dir      bool
	mode     int64
	uid, gid int
	body     []byte
}

// rootEntries is the layer's content, parents before children, in the
// order written: the binary, the user it runs as (for tools that print
// names), and the default state directory, owned by that user.
//
// The binary is owned by that user too, read and execute only: the kernel
// pages a file's pages out of memory (MADV_PAGEOUT) only for a process that
// owns the file or may write it, and the server pages out its executable's
// code once it is idle. The manifests mount the root filesystem read-only,
// so the owner cannot write or change the file there either.
func rootEntries(bin []byte) []rootEntry {
	return []rootEntry{
		{path: "etc/", dir: true, mode: 0o755},
		{path: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "etc/passwd", mode: 0o644, body: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/wasm-apiserver:/sbin/nologin\n")},
		{path: "var/", dir: true, mode: 0o755},
		{path: "var/lib/", dir: true, mode: 0o755},
		{path: "var/lib/wasm-apiserver/", dir: true, mode: 0o700, uid: 65532, gid: 65532},
		{path: "wasm-apiserver", mode: 0o555, uid: 65532, gid: 65532, body: bin},
	}
}

// rootLayer is the layer with rootEntries, every time and owner fixed, so
// that the same binary gives the same bytes.
func rootLayer(bin []byte, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range rootEntries(bin) {
		// USTAR: the modification time alone, in whole seconds; no access
		// or change times, no user or group names.
		h := &tar.Header{Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: mtime, Format: tar.FormatUSTAR}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	// Compressed here, by the standard library at a fixed level, rather than
	// left to the layer: its output is the same for the same input.
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(buf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
