package modules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// The store's files are written whole or not at all: to a temporary file,
// synced, then renamed into place. A directory of the store that is gone
// (removed while the server runs, or never created on a disk that failed
// when the store opened) is created again by the write that needs it, so
// that the store recovers by itself once the disk works.

// writeTemp writes b to a new temporary file, synced, and returns its name.
func (s *Store) writeTemp(b []byte) (string, error) {
	tmp, err := os.CreateTemp(s.tmpDir(), "module-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(s.tmpDir(), 0o700); err == nil {
			tmp, err = os.CreateTemp(s.tmpDir(), "module-*")
		}
	}
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// install renames the temporary file tmp to path, creating path's directory
// if it is gone. tmp is removed when that fails.
func (s *Store) install(tmp, path string) error {
	err := os.Rename(tmp, path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

func (s *Store) tmpDir() string { return filepath.Join(s.dir, "tmp") }
