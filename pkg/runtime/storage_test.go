package runtime

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
)

// cacheEntries returns the files of wazero's compilation cache in dir.
func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "wazero-*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// loadIn loads wasm in a new runtime on cacheDir, then releases it and
// closes the runtime, as a restart of the server would.
func loadIn(t *testing.T, cacheDir string, wasm []byte) error {
	t.Helper()
	r, err := New(t.Context(), Config{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	m, err := r.Load(t.Context(), wasm)
	if err != nil {
		return err
	}
	if err := m.Warm(t.Context()); err != nil {
		t.Errorf("Warm after Load: %v", err)
	}
	m.Release(t.Context())
	return nil
}

func TestLoad_DamagedCompilationCache(t *testing.T) {
	wasm := driverModule().encode()
	tests := []struct {
		name   string
		damage func(t *testing.T, file string)
	}{
		{name: "truncated", damage: func(t *testing.T, file string) {
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(file, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "garbage", damage: func(t *testing.T, file string) {
			if err := os.WriteFile(file, []byte("\x00\x01 not a compiled module, longer than the header of one"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "empty", damage: func(t *testing.T, file string) {
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a directory in its place", damage: func(t *testing.T, file string) {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(file, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a file in place of the cache's directory", damage: func(t *testing.T, file string) {
			dir := filepath.Dir(file)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := loadIn(t, dir, wasm); err != nil {
				t.Fatalf("first Load: %v", err)
			}
			entries := cacheEntries(t, dir)
			if len(entries) != 1 {
				t.Fatalf("compilation cache entries after a Load = %q, want one", entries)
			}
			good, err := os.ReadFile(entries[0])
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, entries[0])

			if err := loadIn(t, dir, wasm); err != nil {
				t.Fatalf("Load after a restart on a damaged cache = %v, want the module loaded", err)
			}
			rebuilt, err := os.ReadFile(entries[0])
			if err != nil || len(rebuilt) != len(good) {
				t.Errorf("the damaged entry was not rebuilt: %d bytes (%v), want %d", len(rebuilt), err, len(good))
			}
			if err := loadIn(t, dir, wasm); err != nil {
				t.Errorf("Load from the rebuilt cache: %v", err)
			}
		})
	}
}

func TestLoad_StorageFailureIsRetryable(t *testing.T) {
	dir := t.TempDir()
	r, err := New(t.Context(), Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	// A file where the kept module bytes' directory should be: writing
	// there fails, even as root.
	modules := filepath.Join(dir, modulesDir)
	if err := os.Remove(modules); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(modules, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	wasm := driverModule().encode()
	_, err = r.Load(t.Context(), wasm)
	var abiErr *ABIError
	var storageErr *StorageError
	if errors.As(err, &abiErr) || !errors.As(err, &storageErr) || !errors.Is(err, ErrStorage) {
		t.Fatalf("Load with unwritable storage = %v (%T), want a *StorageError, not an *ABIError", err, err)
	}

	// Once the storage works again, the same module loads.
	if err := os.Remove(modules); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(modules, 0o700); err != nil {
		t.Fatal(err)
	}
	m, err := r.Load(t.Context(), wasm)
	if err != nil {
		t.Fatalf("Load once the storage works again: %v", err)
	}
	m.Release(t.Context())
}

func TestLoad_InvalidModuleWithCacheIsABIError(t *testing.T) {
	// A function declared to return an i32 that returns nothing: wazero's
	// validation refuses it.
	invalid := testModule{funcs: []testFunc{{results: []byte{i32}}}}.encode()
	r, err := New(t.Context(), Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	_, err = r.Load(t.Context(), invalid)
	var abiErr *ABIError
	if !errors.As(err, &abiErr) || errors.Is(err, ErrStorage) {
		t.Fatalf("Load of an invalid module = %v (%T), want an *ABIError", err, err)
	}
}

func TestWarm_AfterEvictionWithDamagedStorage(t *testing.T) {
	dir := t.TempDir()
	r, err := New(t.Context(), Config{CacheDir: dir, CompiledBudgetBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	other := driverModule()
	other.memPages = 3
	a, err := r.Load(t.Context(), driverModule().encode())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(t.Context())
	b, err := r.Load(t.Context(), other.encode())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(t.Context())
	if a.Resident() {
		t.Fatal("the first module was not evicted")
	}
	for _, f := range cacheEntries(t, dir) {
		if err := os.WriteFile(f, []byte("\x00\x01 not a compiled module, longer than the header of one"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Warm(t.Context()); err != nil {
		t.Fatalf("Warm of an evicted module on a damaged compilation cache = %v, want it compiled again", err)
	}

	// Its kept bytes damaged: a retryable StorageError, not an ABIError.
	if b.Resident() {
		t.Fatal("the second module was not evicted")
	}
	if err := os.WriteFile(b.path, []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = b.Warm(t.Context())
	var abiErr *ABIError
	if !errors.Is(err, ErrStorage) || errors.As(err, &abiErr) {
		t.Fatalf("Warm with damaged kept bytes = %v (%T), want a *StorageError", err, err)
	}
}

// TestLoad_CacheDirRemovedWhileRunning: a cache dir removed while the
// server runs (a cleanup of its state dir) fails no load: the directories
// the runtime writes to are created again.
func TestLoad_CacheDirRemovedWhileRunning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	r, err := New(t.Context(), Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	m, err := r.Load(t.Context(), driverModule().encode())
	if err != nil {
		t.Fatalf("Load after the cache dir was removed: %v", err)
	}
	defer m.Release(t.Context())
	if kept, _ := filepath.Glob(filepath.Join(dir, modulesDir, "*.wasm")); len(kept) != 1 {
		t.Errorf("kept module bytes %v, want one file", kept)
	}
}

// TestLoad_KeptBytesDerivedAgain: with a source of module bytes, an
// evicted module whose kept bytes were damaged or removed compiles again
// from bytes derived anew, and keeps them again.
func TestLoad_KeptBytesDerivedAgain(t *testing.T) {
	wasmA, wasmB := driverModule().encode(), func() []byte { m := driverModule(); m.memPages = 3; return m.encode() }()
	sources := map[string][]byte{wasmmodule.Digest(wasmA): wasmA, wasmmodule.Digest(wasmB): wasmB}
	dir := t.TempDir()
	r, err := New(t.Context(), Config{CacheDir: dir, CompiledBudgetBytes: 1,
		Source: func(_ context.Context, digest string) ([]byte, error) {
			if b, ok := sources[digest]; ok {
				return b, nil
			}
			return nil, errors.New("not stored")
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	a, err := r.Load(t.Context(), wasmA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(t.Context())
	b, err := r.Load(t.Context(), wasmB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(t.Context())
	if a.Resident() {
		t.Fatal("the first module was not evicted")
	}
	kept, err := os.ReadFile(a.path)
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func() error{
		"changed": func() error { return os.WriteFile(a.path, []byte("changed"), 0o600) },
		"removed": func() error { return os.Remove(a.path) },
		"one byte flipped, same size": func() error {
			flipped := bytes.Clone(kept)
			flipped[len(flipped)/2] ^= 1
			return os.WriteFile(a.path, flipped, 0o600)
		},
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		if err := a.Warm(t.Context()); err != nil {
			t.Fatalf("%s: Warm = %v, want the kept bytes derived again", name, err)
		}
		if got, err := os.ReadFile(a.path); err != nil || !bytes.Equal(got, kept) {
			t.Errorf("%s: kept bytes after Warm: %d bytes, %v; want the %d kept at load", name, len(got), err, len(kept))
		}
		// Evict it again, for the next damage.
		if err := b.Warm(t.Context()); err != nil || a.Resident() {
			t.Fatalf("evicting again: %v, resident %v", err, a.Resident())
		}
	}

	// A source that has lost the module: the StorageError stays.
	delete(sources, a.Digest)
	if err := os.WriteFile(a.path, []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Warm(t.Context()); !errors.Is(err, ErrStorage) {
		t.Errorf("Warm with neither kept bytes nor a source = %v, want a StorageError", err)
	}
}
