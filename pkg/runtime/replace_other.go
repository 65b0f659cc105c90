//go:build !linux

package runtime

import "os"

// replaceFile renames the file at from over the one at to.
func replaceFile(from, to string) error { return os.Rename(from, to) }
