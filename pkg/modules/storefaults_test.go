package modules

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// breakDir puts a file where the store's directory sub was: every write
// there fails, whoever the server runs as (root ignores permission bits).
// The returned func repairs it.
func breakDir(t *testing.T, dir, sub string) (repair func()) {
	t.Helper()
	path := filepath.Join(dir, sub)
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFetch_StorageFailuresAreTheServers checks that a module store that
// cannot keep a module fails the fetch as the server's storage, retried and
// told without the server's paths, never as a bad module; and that once the
// disk works again the same store fetches it, without being opened again.
func TestFetch_StorageFailuresAreTheServers(t *testing.T) {
	wasm := wasmModule("store-faults")
	sha := digestOf(wasm)[len("sha256:"):]
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(wasm) }))
	t.Cleanup(srv.Close)
	reg := modulestest.NewRegistry(t)
	if _, err := Push(t.Context(), wasm, modulestest.Reference(t, reg.Ref("ctl/faults:v1"))); err != nil {
		t.Fatal(err)
	}
	sources := map[string]func() *v1alpha1.WasmController{
		"url":   func() *v1alpha1.WasmController { return urlController(srv.URL+"/m.wasm", sha) },
		"image": func() *v1alpha1.WasmController { return imageController(reg.Ref("ctl/faults:v1")) },
	}
	tests := []struct {
		name   string
		broken string // the store's directory that cannot be written
	}{
		{name: "temporary files cannot be written", broken: "tmp"},
		{name: "modules cannot be written", broken: "sha256"},
		{name: "sources cannot be recorded", broken: "sources"},
	}
	for source, wc := range sources {
		for _, tt := range tests {
			t.Run(source+"/"+tt.name, func(t *testing.T) {
				dir := t.TempDir()
				store, err := OpenStore(dir, 0)
				if err != nil {
					t.Fatal(err)
				}
				f := NewFetcher(FetcherConfig{Store: store, HTTPClient: srv.Client(), AllowLocalSources: true,
					ClientFor: asAnyone(fake.NewClientset())})
				repair := breakDir(t, dir, tt.broken)
				m, err := f.Fetch(t.Context(), wc())
				if err == nil {
					m.Release()
					t.Fatal("Fetch succeeded although the store cannot write")
				}
				if got := ReasonOf(err); got != ReasonStorageFailed || IsPermanent(err) {
					t.Errorf("reason %s, permanent %v; want %s, retried", got, IsPermanent(err), ReasonStorageFailed)
				}
				if msg := err.Error(); strings.Contains(msg, dir) || strings.Contains(msg, string(filepath.Separator)+tt.broken) {
					t.Errorf("message %q names the server's files", msg)
				}
				repair()
				m, err = f.Fetch(t.Context(), wc())
				if err != nil {
					t.Fatalf("Fetch once the disk works again: %v", err)
				}
				defer m.Release()
				if !bytes.Equal(m.Wasm, wasm) {
					t.Fatal("Fetch returned other bytes")
				}
			})
		}
	}
}

// TestFetch_StoreDirectoriesRemovedWhileRunning checks that a store whose
// directories are removed under it (a cleanup of the state dir) creates
// them again rather than failing every fetch until the server restarts.
func TestFetch_StoreDirectoriesRemovedWhileRunning(t *testing.T) {
	wasm := wasmModule("store-removed")
	sha := digestOf(wasm)[len("sha256:"):]
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(wasm) }))
	t.Cleanup(srv.Close)
	dir := filepath.Join(t.TempDir(), "modules")
	store, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, HTTPClient: srv.Client(), AllowLocalSources: true})
	m, err := f.Fetch(t.Context(), urlController(srv.URL+"/m.wasm", sha))
	if err != nil {
		t.Fatalf("Fetch after the store's directories were removed: %v", err)
	}
	defer m.Release()
	if _, err := os.Stat(filepath.Join(dir, "sha256", sha)); err != nil {
		t.Errorf("the module was not stored: %v", err)
	}
}

// TestFetch_DamagedStoredModuleIsFetchedAgain checks that a stored module
// whose file was damaged (truncated, overwritten) is discarded and fetched
// again, never given to the guest nor reported as a bad module.
func TestFetch_DamagedStoredModuleIsFetchedAgain(t *testing.T) {
	wasm := wasmModule("store-damaged")
	sha := digestOf(wasm)[len("sha256:"):]
	var requests atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = w.Write(wasm)
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name   string
		damage []byte
	}{
		{name: "truncated", damage: wasm[:len(wasm)/2]},
		{name: "empty", damage: nil},
		{name: "other Wasm bytes", damage: wasmModule("another")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			store, err := OpenStore(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			f := NewFetcher(FetcherConfig{Store: store, HTTPClient: srv.Client(), AllowLocalSources: true})
			wc := urlController(srv.URL+"/m.wasm", sha)
			m, err := f.Fetch(t.Context(), wc)
			if err != nil {
				t.Fatal(err)
			}
			m.Release()
			path := filepath.Join(dir, "sha256", sha)
			if err := os.WriteFile(path, tt.damage, 0o600); err != nil {
				t.Fatal(err)
			}
			before := requests.Load()
			m, err = f.Fetch(t.Context(), wc)
			if err != nil {
				t.Fatalf("Fetch of a damaged stored module: %v", err)
			}
			defer m.Release()
			if !bytes.Equal(m.Wasm, wasm) || requests.Load() != before+1 {
				t.Errorf("got %d bytes after %d requests; want the module fetched again", len(m.Wasm), requests.Load()-before)
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, wasm) {
				t.Errorf("the store holds %d bytes (%v), want the module again", len(got), err)
			}
		})
	}
}

// TestOpenStore_FailingDisk checks that a store whose directories cannot
// be created opens all the same, fails writes as the server's storage, and
// works once the disk does; and that a store dir that is a file, which no
// retry fixes, is refused.
func TestOpenStore_FailingDisk(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sha256"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatalf("OpenStore with a directory it cannot create: %v", err)
	}
	wasm := wasmModule("open-failing")
	if l, err := store.Add(wasm); err == nil {
		l.Release()
		t.Fatal("Add succeeded although the store cannot write")
	}
	if err := os.Remove(filepath.Join(dir, "sha256")); err != nil {
		t.Fatal(err)
	}
	l, err := store.Add(wasm)
	if err != nil {
		t.Fatalf("Add once the disk works: %v", err)
	}
	l.Release()

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(file, 0); err == nil {
		t.Error("OpenStore of a file succeeded")
	}
}
