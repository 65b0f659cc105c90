//go:build !linux

package runtime

import (
	"errors"
	"os"
)

// canMapSnapshots says that snapshots are read here: only Linux maps them.
const canMapSnapshots = false

func mapRuns(*os.File, *memoryImageFile, *snapshot, []byte) error {
	return errors.New("snapshots are not mapped on this platform")
}

func populateRead([]byte) {}
