//go:build !linux && !darwin

package runtime

// mapMemory cannot map memory here: guests' memory is a Go slice.
func mapMemory(uint64) []byte { return nil }

func unmapMemory([]byte) {}
