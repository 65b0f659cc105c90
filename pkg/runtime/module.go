package runtime

import (
	"context"

	"github.com/tetratelabs/wazero"
)

// Module is a compiled guest module, shared by every controller using the
// same digest.
type Module struct {
	runtime  *Runtime
	compiled wazero.CompiledModule
	// Digest is "sha256:<hex>" of the module bytes.
	Digest string
	// Size is the size of the module bytes.
	Size int

	refs int // guarded by runtime.mu
}

// Release drops one reference; the compiled code is freed with the last.
// Instances already running keep working until closed.
func (m *Module) Release(ctx context.Context) {
	m.runtime.release(ctx, m)
}
