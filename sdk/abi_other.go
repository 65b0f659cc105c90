//go:build !wasip1

package sdk

import (
	"fmt"
	"os"
)

// hostRequest fails outside a wasip1 guest: there is no host to call.
func hostRequest([]byte) ([]byte, error) {
	return nil, ErrNotInGuest
}

// hostLog writes msg to standard error outside a wasip1 guest, so that
// controller logic run in unit tests still logs.
func hostLog(level Level, msg string) {
	fmt.Fprintf(os.Stderr, "%s %s\n", level, msg)
}
