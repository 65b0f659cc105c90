package modules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Sources remember where each stored module was fetched from: a URL, or an
// image repository. The store gives a module to a fetch only for a source
// it came from (see Store.acquireFrom), so that the bytes one tenant could
// fetch are not handed by digest to another who names them without being
// able to fetch them: a bogus URL, or a registry of its own that claims
// another's digests. The module's bytes are stored once whatever the
// number of its sources.

// sourceOfURL is the source of a url module: the whole URL, credentials and
// query included, since they are what may make it fetchable.
func sourceOfURL(rawURL string) string { return "url:" + rawURL }

// sourceOfImage is the source of an image module: its repository
// ("registry/name"), where every manifest that holds it was resolved.
func sourceOfImage(repository string) string { return "image:" + repository }

// recordSource records that the module digest was fetched from source.
func (s *Store) recordSource(source, digest string) error {
	tmp, err := s.writeTemp([]byte(digest))
	if err != nil {
		return fmt.Errorf("module store: recording the source of module[%s]: %w", digest, err)
	}
	if err := s.install(tmp, s.sourcePath(source, digest)); err != nil {
		return fmt.Errorf("module store: recording the source of module[%s]: %w", digest, err)
	}
	return nil
}

// fetchedFrom says whether the module digest was fetched from source.
func (s *Store) fetchedFrom(source, digest string) bool {
	_, err := os.Stat(s.sourcePath(source, digest))
	return err == nil
}

// acquireFrom is Acquire for a module fetched from source before.
//
// # Errors
//
// ErrNotStored also when the store holds the module from other sources
// only.
func (s *Store) acquireFrom(source, digest string) ([]byte, *Lease, error) {
	if !s.fetchedFrom(source, digest) {
		return nil, nil, ErrNotStored
	}
	return s.Acquire(digest)
}

// sourcePath names the record of (source, digest) by a hash of both: a
// source may be long and hold credentials, which the file name keeps out.
func (s *Store) sourcePath(source, digest string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + digest))
	return filepath.Join(s.dir, "sources", hex.EncodeToString(sum[:]))
}

// pruneRecords removes, from dir, the records (sources or pins) of modules
// the store no longer holds: they would only make it fetch again. Called by
// OpenStore, before the store is shared.
func (s *Store) pruneRecords(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			if _, ok := s.blobs[string(b)]; ok {
				continue
			}
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
