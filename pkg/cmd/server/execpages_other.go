//go:build !linux

package server

import "time"

// releaseExecutablePages does nothing where the pages of the executable
// cannot be found or dropped.
func releaseExecutablePages() (pageRelease, error) {
	return pageRelease{}, nil
}

// processCPUTime returns 0: nothing is released to be kept busy for.
func processCPUTime() time.Duration {
	return 0
}
