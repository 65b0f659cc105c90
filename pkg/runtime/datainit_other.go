//go:build !linux

package runtime

import "errors"

// mapFrom is not supported here: the segments are copied (compact).
func (d *dataInit) mapFrom(string, []byte) error {
	return errors.New("kept files are not mapped on this platform")
}

func forgetPages([]byte) {}
