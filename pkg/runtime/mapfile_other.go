//go:build !linux

package runtime

import "errors"

// errUnmapped is never returned here: files are not mapped over guest
// memory on this platform.
var errUnmapped = errors.New("guest memory left unmapped")
