// Package modulestest serves an in-process OCI registry for tests of
// module fetching: on loopback, optionally behind basic auth, able to
// corrupt the blobs it serves.
package modulestest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is an in-process OCI registry on loopback, spoken to over plain
// HTTP as go-containerregistry does with 127.0.0.1.
type Registry struct {
	// Host is "127.0.0.1:port".
	Host string
	// Corrupt, when set, flips the last byte of every blob served.
	Corrupt atomic.Bool
	// BlobGets counts the blob downloads.
	BlobGets atomic.Int64
	// ManifestHeads counts the HEAD requests of manifests, answered or
	// refused.
	ManifestHeads atomic.Int64

	// hold, while set, is closed when blob downloads may go on.
	hold atomic.Pointer[chan struct{}]

	user, password string
}

// NewRegistry starts a registry that stops with the test.
func NewRegistry(t testing.TB) *Registry {
	return NewPrivateRegistry(t, "", "")
}

// NewPrivateRegistry starts a registry that answers only requests with the
// basic auth credential user:password (any request when user is empty).
func NewPrivateRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	r := &Registry{user: user, password: password}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodHead && strings.Contains(req.URL.Path, "/manifests/") {
			r.ManifestHeads.Add(1)
		}
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.password {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.BlobGets.Add(1)
			if hold := r.hold.Load(); hold != nil {
				select {
				case <-*hold:
				case <-req.Context().Done():
					return
				}
			}
			if r.Corrupt.Load() {
				rec := httptest.NewRecorder()
				inner.ServeHTTP(rec, req)
				body := rec.Body.Bytes()
				if len(body) > 0 {
					body[len(body)-1] ^= 0xff
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(body)
				return
			}
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	r.Host = u.Host
	return r
}

// HoldBlobs makes blob downloads wait, as a slow registry's do, until
// release is called (or the request ends); the test's end releases them too.
func (r *Registry) HoldBlobs(t testing.TB) (release func()) {
	hold := make(chan struct{})
	r.hold.Store(&hold)
	var once sync.Once
	release = func() { once.Do(func() { r.hold.Store(nil); close(hold) }) }
	t.Cleanup(release)
	return release
}

// Ref returns the reference of repo ("name:tag") in the registry.
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// Auth returns the options that authenticate as the registry's user.
func (r *Registry) Auth() []remote.Option {
	if r.user == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&basicAuth{r.user, r.password})}
}

// Layer is one layer to push.
type Layer struct {
	MediaType types.MediaType
	Bytes     []byte
}

// Push uploads a config of configType and the layers, and tags the
// manifest ref. It returns the manifest's digest.
func (r *Registry) Push(t testing.TB, ref string, configType types.MediaType, layers ...Layer) v1.Hash {
	t.Helper()
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	put := func(b []byte, mt types.MediaType) v1.Descriptor {
		l := static.NewLayer(b, mt)
		if err := remote.WriteLayer(tag.Context(), l, r.Auth()...); err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: put([]byte("{}"), configType)}
	for _, l := range layers {
		m.Layers = append(m.Layers, put(l.Bytes, l.MediaType))
	}
	return r.PushManifest(t, ref, m)
}

// PushManifest tags the manifest m ref, without uploading its blobs, as a
// registry that claims what it does not hold would serve it. It returns the
// manifest's digest.
func (r *Registry) PushManifest(t testing.TB, ref string, m v1.Manifest) v1.Hash {
	t.Helper()
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(tag, manifest(body), r.Auth()...); err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type manifest []byte

func (m manifest) RawManifest() ([]byte, error)        { return m, nil }
func (m manifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

type basicAuth struct{ user, password string }

func (b *basicAuth) Authorization() (*authn.AuthConfig, error) {
	return &authn.AuthConfig{Username: b.user, Password: b.password}, nil
}

// CompatLayer is the layer of an Istio "compat" Wasm image: a
// gzip-compressed tar holding plugin.wasm.
func CompatLayer(t testing.TB, wasm []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		body []byte
	}{{"runtime-config.json", []byte("{}")}, {"plugin.wasm", wasm}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(f.body)
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// WasmModule returns a small WebAssembly core module: the header, then a
// custom section named name, so that each name gives distinct bytes.
func WasmModule(name string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 0, byte(1+len(name)), byte(len(name)))
	return append(b, name...)
}

// Reference parses ref, failing the test when it is not a reference.
func Reference(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
