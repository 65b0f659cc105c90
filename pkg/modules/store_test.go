package modules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fakeClock advances one second on every reading, so the LRU order is that
// of the calls.
func fakeClock() func() time.Time {
	t := time.Unix(1_700_000_000, 0)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestStore_AddAcquire(t *testing.T) {
	s, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	wasm := wasmModule("dedup")
	l1, err := s.Add(wasm)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := s.Add(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if l1.Digest() != digestOf(wasm) || l2.Digest() != l1.Digest() {
		t.Fatalf("digests %s %s, want %s", l1.Digest(), l2.Digest(), digestOf(wasm))
	}
	if size, n := s.Size(); n != 1 || size != int64(len(wasm)) {
		t.Fatalf("Size() = %d, %d; want one module of %d bytes", size, n, len(wasm))
	}
	got, l3, err := s.Acquire(digestOf(wasm))
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("Acquire = %q, %v", got, err)
	}
	l3.Release()
	if _, _, err := s.Acquire(digestOf([]byte("other"))); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Acquire(unknown) error = %v, want ErrNotStored", err)
	}
}

func TestStore_EvictsUnusedLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	a, b, c := wasmModule("aaaa"), wasmModule("bbbb"), wasmModule("cccc")
	size := int64(len(a))
	s, err := OpenStore(dir, 2*size)
	if err != nil {
		t.Fatal(err)
	}
	s.now = fakeClock()
	la, _ := s.Add(a)
	lb, _ := s.Add(b)
	lc, _ := s.Add(c) // three in use: over the bound, nothing can go
	if _, n := s.Size(); n != 3 {
		t.Fatalf("%d modules, want 3 (all in use)", n)
	}
	lb.Release() // b is the least recently used unused module
	la.Release()
	if _, n := s.Size(); n != 2 {
		t.Fatalf("%d modules after releases, want 2", n)
	}
	if _, _, err := s.Acquire(digestOf(b)); !errors.Is(err, ErrNotStored) {
		t.Errorf("b should have been removed first: %v", err)
	}
	if _, l, err := s.Acquire(digestOf(a)); err != nil {
		t.Errorf("a should remain: %v", err)
	} else {
		l.Release()
	}
	lc.Release()

	// The store survives a restart, with its sizes and its bound.
	s2, err := OpenStore(dir, size)
	if err != nil {
		t.Fatal(err)
	}
	if got, n := s2.Size(); n != 1 || got != size {
		t.Fatalf("after reopening with a bound of one module: %d bytes, %d modules", got, n)
	}
}

func TestStore_CorruptModuleIsRemoved(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	wasm := wasmModule("corrupt")
	l, err := s.Add(wasm)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sha256", digestOf(wasm)[len("sha256:"):])
	if err := os.WriteFile(path, []byte("\x00asm\x01\x00\x00\x00tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Acquire(digestOf(wasm)); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Acquire of a corrupt module: %v, want ErrNotStored", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the corrupt file was kept: %v", err)
	}
	// Fetched again, it is written again although a lease is still held.
	l2, err := s.Add(wasm)
	if err != nil {
		t.Fatal(err)
	}
	got, l3, err := s.Acquire(digestOf(wasm))
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("after Add again: %q, %v", got, err)
	}
	for _, l := range []*Lease{l, l2, l3} {
		l.Release()
	}
}

func TestStore_IgnoresStrayFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "module-1"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sha256", "not-a-digest"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, n := s.Size(); n != 0 {
		t.Fatalf("%d modules, want 0", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp", "module-1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a half-written temporary file was kept: %v", err)
	}
}

func TestStore_Pins(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := s.Add(wasmModule("pinned"))
	if err != nil {
		t.Fatal(err)
	}
	lease.Release()
	manifest, module := digestOf([]byte("manifest")), lease.Digest()
	if err := s.pin(manifest, module); err != nil {
		t.Fatal(err)
	}
	if err := s.pin("sha256:../../etc/passwd", module); err == nil {
		t.Fatal("a malformed manifest digest was pinned")
	}
	if err := s.pin(digestOf([]byte("evicted")), digestOf([]byte("gone"))); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(dir, 0) // pins survive a restart
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s2.pinned(manifest); !ok || got != module {
		t.Fatalf("pinned = %q, %v; want %s", got, ok, module)
	}
	if _, ok := s2.pinned(digestOf([]byte("other"))); ok {
		t.Fatal("an unknown manifest is pinned")
	}
	if _, ok := s2.pinned(digestOf([]byte("evicted"))); ok {
		t.Fatal("the pin of a module the store no longer holds survived a restart")
	}
}
