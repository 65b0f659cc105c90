//go:build linux || darwin

package runtime

import "syscall"

// mapMemory maps size bytes of zeroed, private memory without reserving
// swap for them, or returns nil.
func mapMemory(size uint64) []byte {
	if size == 0 || size > 1<<32 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	hugePages(b)
	return b
}

// unmapMemory gives a mapping of mapMemory back to the OS.
func unmapMemory(b []byte) {
	_ = syscall.Munmap(b)
}
