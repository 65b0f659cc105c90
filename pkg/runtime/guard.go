package runtime

import (
	"fmt"
	"runtime/debug"

	"k8s.io/klog/v2"
)

// Module bytes come from tenants. The parsers of this package check every
// length they read, and wazero validates what it compiles, but a panic in
// either on input nobody foresaw must fail that one module, never the
// server: every step that reads module or snapshot bytes runs under guard.

// guard runs step and turns a panic in it into an *ABIError saying the
// module is invalid, which callers treat as permanent. The stack of the
// panic is logged at verbosity 4, for reporting the bug.
func guard(what string, step func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			klog.V(4).InfoS("Recovered a panic on an invalid module", "step", what, "panic", p, "stack", string(debug.Stack()))
			err = &ABIError{Reason: fmt.Sprintf("invalid module: %s failed: %v", what, p)}
		}
	}()
	return step()
}

// freeAfterCompileBytes is the code section size above which a failed or
// refused compilation returns the memory it used to the OS right away:
// compiling takes many times the code's size, and the Go runtime would
// otherwise keep those pages for a while. Below it the forced collection
// costs more than it gives back.
const freeAfterCompileBytes = 1 << 20

// freeAfterFailedCompile returns the memory of a compilation that produced
// nothing to keep to the OS, when it was large enough to matter.
func freeAfterFailedCompile(codeBytes int) {
	if codeBytes >= freeAfterCompileBytes {
		debug.FreeOSMemory()
	}
}

// MemoryLimitError says a module needs more linear memory to start than an
// instance may have. It is permanent for that module and limit: raise the
// limit or change the module. errors.Is(err, ErrMemoryLimit) holds.
type MemoryLimitError struct {
	// Digest identifies the module.
	Digest string
	// MinBytes is the module's initial (minimum) memory.
	MinBytes uint64
	// LimitBytes is the instance's memory limit.
	LimitBytes uint64
}

func (e *MemoryLimitError) Error() string {
	return fmt.Sprintf("module[%s] needs %d bytes of memory (%d pages of 64 KiB) to start, over the memory limit of %d bytes",
		e.Digest, e.MinBytes, e.MinBytes/wasmPage, e.LimitBytes)
}

// Is makes errors.Is(err, ErrMemoryLimit) hold.
func (e *MemoryLimitError) Is(target error) bool { return target == ErrMemoryLimit }

// CheckMemoryLimit says whether instances of the module can start within
// limit bytes of linear memory, so that a caller can refuse a limit at load
// rather than at every wake.
//
// # Errors
//
// A *MemoryLimitError when MinMemoryBytes is over limit.
func (m *Module) CheckMemoryLimit(limit uint64) error {
	if m.MinMemoryBytes > limit {
		return &MemoryLimitError{Digest: m.Digest, MinBytes: m.MinMemoryBytes, LimitBytes: limit}
	}
	return nil
}
