//go:build !linux

package runtime

// populate does nothing here: pages are faulted in as the guest touches them.
func populate([]byte) {}

func hugePages([]byte) {}

// populateWrite does nothing here and says so.
func populateWrite([]byte) bool { return false }
