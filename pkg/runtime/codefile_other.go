//go:build !linux

package runtime

import (
	"errors"

	"github.com/tetratelabs/wazero"
)

// Compiled code stays in wazero's anonymous memory on this platform.

var errNoCodeFiles = errors.New("compiled code is not mapped from files on this platform")

func executableAnonymous() ([]codeSpan, error) { return nil, errNoCodeFiles }

func dirInMemory(string) bool { return true }

func releaseCodeFilesLocked(map[wazero.CompiledModule]*codeFile, bool) (int64, error) { return 0, nil }
