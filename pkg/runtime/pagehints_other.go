//go:build !linux

package runtime

// pagemapEntries fails: only Linux has a pagemap.
func pagemapEntries([]byte) ([]uint64, error) { return nil, errPageSize }
