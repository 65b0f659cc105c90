//go:build !linux

package server

// releaseExecutablePages does nothing where the pages of the executable
// cannot be found or dropped.
func releaseExecutablePages() (int64, error) {
	return 0, nil
}
