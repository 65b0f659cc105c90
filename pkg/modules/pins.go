package modules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pins remember which module a manifest holds, by the manifest's digest.
// A manifest's digest names its bytes, and so its layers, for good: the
// record never goes stale, and lets an image pinned by digest be loaded
// from the store without asking the registry, even when the module's
// digest is not in the manifest (a compat tar layer, an index).

// pin records that the manifest with digest manifestDigest ("sha256:<hex>")
// holds the module moduleDigest.
func (s *Store) pin(manifestDigest, moduleDigest string) error {
	path, ok := s.pinPath(manifestDigest)
	if !ok {
		return fmt.Errorf("module store: bad manifest digest %q", manifestDigest)
	}
	tmp, err := s.writeTemp([]byte(moduleDigest))
	if err != nil {
		return fmt.Errorf("module store: pinning manifest[%s]: %w", manifestDigest, err)
	}
	if err := s.install(tmp, path); err != nil {
		return fmt.Errorf("module store: pinning manifest[%s]: %w", manifestDigest, err)
	}
	return nil
}

// pinned returns the digest of the module the manifest holds, if recorded.
func (s *Store) pinned(manifestDigest string) (string, bool) {
	path, ok := s.pinPath(manifestDigest)
	if !ok {
		return "", false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	d := string(b)
	if !strings.HasPrefix(d, "sha256:") || !isHexDigest(d[len("sha256:"):]) {
		return "", false
	}
	return d, true
}

func (s *Store) pinPath(manifestDigest string) (string, bool) {
	hex, ok := strings.CutPrefix(manifestDigest, "sha256:")
	if !ok || !isHexDigest(hex) {
		return "", false
	}
	return filepath.Join(s.dir, "manifests", hex), true
}
