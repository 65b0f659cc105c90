package modules

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
)

// ErrNotStored is returned by Store.Acquire when the store has no module
// with the digest, or had one that no longer matched it.
var ErrNotStored = errors.New("module not in the store")

// Store keeps fetched modules on disk, one file per digest of the Wasm
// bytes, shared by every controller: a module is fetched once whatever the
// number of controllers that run it.
//
// Modules in use (acquired and not yet released) are never removed. When the
// store grows past its bound, the modules nobody uses are removed, least
// recently used first.
//
// # Notes
//
//   - Files are written to a temporary name and renamed, so a crash leaves no
//     half-written module under a digest; they are verified on every read.
//   - The bound does not count modules in use: when those alone exceed it,
//     the store holds them and nothing else.
type Store struct {
	dir      string
	maxBytes int64
	now      func() time.Time

	mu    sync.Mutex
	blobs map[string]*blob // by "sha256:<hex>"
	total int64
}

type blob struct {
	size     int64
	lastUsed time.Time
	refs     int
	// missing is set when the file was found corrupt and removed while
	// leases on it were still held; the next Add writes it again.
	missing bool
}

// Lease keeps a module in the store until Release.
type Lease struct {
	store  *Store
	digest string
	once   sync.Once
}

// Digest returns the "sha256:<hex>" digest of the leased module.
func (l *Lease) Digest() string { return l.digest }

// Release lets the store remove the module again. It may be called more
// than once; a nil Lease does nothing.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	l.once.Do(func() { l.store.release(l.digest) })
}

// OpenStore opens (creating it if needed) the store in dir, bounded to
// maxBytes of modules not in use; maxBytes <= 0 means no bound.
//
// # Errors
//
// Only when dir names something other than a directory, which no retry
// fixes. A disk that fails (full, read-only, its directories removed) does
// not keep the store from opening: it is logged, every write creates the
// directories it needs, and a write that fails is retried by the caller
// until the disk works again.
func OpenStore(dir string, maxBytes int64) (*Store, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("module store[%s]: not a directory", dir)
	}
	s := &Store{dir: dir, maxBytes: maxBytes, now: time.Now, blobs: map[string]*blob{}}
	if err := os.RemoveAll(s.tmpDir()); err != nil {
		klog.ErrorS(err, "Removing the module store's temporary files", "dir", dir)
	}
	for _, d := range []string{s.tmpDir(), filepath.Join(dir, "sha256"), filepath.Join(dir, "manifests"), filepath.Join(dir, "sources")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			klog.ErrorS(err, "Creating the module store's directories; writes create them again", "dir", dir)
			break
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "sha256"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Records are kept: without the list of modules, pruning them
		// would throw away every one.
		klog.ErrorS(err, "Listing the module store; it starts empty", "dir", dir)
		return s, nil
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !isHexDigest(e.Name()) {
			continue
		}
		s.blobs["sha256:"+e.Name()] = &blob{size: info.Size(), lastUsed: info.ModTime()}
		s.total += info.Size()
	}
	s.mu.Lock()
	s.evictLocked()
	s.mu.Unlock()
	for _, d := range []string{"manifests", "sources"} {
		if err := s.pruneRecords(filepath.Join(dir, d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			klog.ErrorS(err, "Pruning the module store's records", "dir", dir)
		}
	}
	return s, nil
}

// Add stores wasm under its digest and leases it.
func (s *Store) Add(wasm []byte) (*Lease, error) {
	return s.addAs(wasmmodule.Digest(wasm), wasm)
}

// addAs stores wasm under digest, which the caller computed or checked,
// and leases it.
func (s *Store) addAs(digest string, wasm []byte) (*Lease, error) {
	if lease := s.lease(digest); lease != nil {
		return lease, nil
	}
	// Written outside the lock: a large module must not hold up the others.
	tmp, err := s.writeTemp(wasm)
	if err != nil {
		return nil, fmt.Errorf("module store: writing module[%s]: %w", digest, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[digest]
	if ok && !b.missing { // stored meanwhile
		_ = os.Remove(tmp)
		b.refs++
		b.lastUsed = s.now()
		return &Lease{store: s, digest: digest}, nil
	}
	if err := s.install(tmp, s.path(digest)); err != nil {
		return nil, fmt.Errorf("module store: writing module[%s]: %w", digest, err)
	}
	if !ok {
		b = &blob{}
		s.blobs[digest] = b
	}
	b.size, b.missing, b.lastUsed = int64(len(wasm)), false, s.now()
	b.refs++
	s.total += b.size
	s.evictLocked()
	return &Lease{store: s, digest: digest}, nil
}

// lease leases digest when the store holds it, or returns nil.
func (s *Store) lease(digest string) *Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[digest]
	if !ok || b.missing {
		return nil
	}
	b.refs++
	b.lastUsed = s.now()
	return &Lease{store: s, digest: digest}
}

// Acquire reads the module with digest ("sha256:<hex>") and leases it.
//
// # Errors
//
// ErrNotStored when the store has no such module. A file whose bytes no
// longer match its digest is removed and also reported as ErrNotStored, so
// that the caller fetches it again.
func (s *Store) Acquire(digest string) ([]byte, *Lease, error) {
	lease := s.lease(digest) // keeps the file while it is read, outside the lock
	if lease == nil {
		return nil, nil, ErrNotStored
	}
	wasm, err := os.ReadFile(s.path(digest))
	if err == nil {
		if wasmmodule.Digest(wasm) == digest {
			now := s.now()
			_ = os.Chtimes(s.path(digest), now, now) // survives restarts as the LRU order
			return wasm, lease, nil
		}
		klog.InfoS("Removing corrupt module from the store", "digest", digest)
		err = fmt.Errorf("module store: module[%s] does not match its digest: %w", digest, ErrNotStored)
	} else if errors.Is(err, fs.ErrNotExist) {
		err = ErrNotStored
	} else {
		lease.Release()
		return nil, nil, fmt.Errorf("module store: reading module[%s]: %w", digest, err)
	}
	// Gone or corrupt: forget it, so that the next Add writes it again.
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = os.Remove(s.path(digest))
	lease.once.Do(func() { s.blobs[digest].refs-- })
	s.dropLocked(digest)
	return nil, nil, err
}

// Size returns the bytes of modules the store holds and how many it holds.
func (s *Store) Size() (bytes int64, modules int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, len(s.blobs)
}

func (s *Store) release(digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[digest]
	if !ok || b.refs == 0 {
		return
	}
	b.refs--
	if b.missing {
		if b.refs == 0 {
			delete(s.blobs, digest)
		}
		return
	}
	b.lastUsed = s.now()
	_ = os.Chtimes(s.path(digest), b.lastUsed, b.lastUsed)
	s.evictLocked()
}

// evictLocked removes unused modules, least recently used first, until the
// store is within its bound.
func (s *Store) evictLocked() {
	if s.maxBytes <= 0 || s.total <= s.maxBytes {
		return
	}
	var unused []string
	for d, b := range s.blobs {
		if b.refs == 0 && !b.missing {
			unused = append(unused, d)
		}
	}
	slices.SortFunc(unused, func(a, b string) int { return s.blobs[a].lastUsed.Compare(s.blobs[b].lastUsed) })
	for _, d := range unused {
		if s.total <= s.maxBytes {
			return
		}
		if err := os.Remove(s.path(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			klog.ErrorS(err, "Removing unused module from the store", "digest", d)
			continue
		}
		klog.V(2).InfoS("Removed unused module from the store", "digest", d, "bytes", s.blobs[d].size)
		s.forgetLocked(d)
	}
}

// dropLocked accounts for a module file that is gone: it is forgotten, or
// marked missing while leases on it are held.
func (s *Store) dropLocked(digest string) {
	b := s.blobs[digest]
	if b.refs == 0 {
		s.forgetLocked(digest)
		return
	}
	s.total -= b.size
	b.size, b.missing = 0, true
}

func (s *Store) forgetLocked(digest string) {
	if b, ok := s.blobs[digest]; ok {
		s.total -= b.size
		delete(s.blobs, digest)
	}
}

func (s *Store) path(digest string) string {
	return filepath.Join(s.dir, "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && bytes.Equal([]byte(s), bytes.ToLower([]byte(s)))
}
