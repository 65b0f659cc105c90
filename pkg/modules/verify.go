package modules

import (
	"fmt"
	"strings"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
)

// verify checks the module's size, digest and header, and fills in Digest.
//
// A module the store holds was checked before it was added, and its digest
// is its name there (checked again whenever it is read back): neither is
// computed again.
//
// The module's digest is said when it differs from wantSHA256: the bytes
// came from the spec, from a ConfigMap the ServiceAccount may read, or from
// an image the request could pull (whose digest loading it without sha256
// would show in status.moduleDigest anyway). A module from a URL never gets
// here with another digest: fromURL checks it while it streams, and says
// nothing of the bytes a URL served.
func (f *Fetcher) verify(m *Module, wantSHA256 string) error {
	if int64(len(m.Wasm)) > f.cfg.MaxModuleBytes {
		return tooLarge(int64(len(m.Wasm)), f.cfg.MaxModuleBytes)
	}
	stored := m.lease != nil
	if stored {
		m.Digest = m.lease.Digest()
	} else {
		m.Digest = wasmmodule.Digest(m.Wasm)
	}
	if got := strings.TrimPrefix(m.Digest, wasmmodule.DigestPrefix); wantSHA256 != "" && got != wantSHA256 {
		return permanent(ReasonDigestMismatch, fmt.Sprintf(
			"module has sha256 %s, spec.module.sha256 wants %s: it will not run", got, wantSHA256), nil)
	}
	if stored {
		return nil
	}
	return CheckWasm(m.Wasm)
}

// CheckWasm reports, as an *Error with ReasonNotWasm, bytes that are not a
// WebAssembly core module (binary format version 1).
func CheckWasm(b []byte) error {
	if err := wasmmodule.CheckHeader(b); err != nil {
		return permanent(ReasonNotWasm, err.Error(), nil)
	}
	return nil
}

func tooLarge(size, limit int64) *Error {
	return permanent(ReasonModuleTooLarge, fmt.Sprintf("module is %d bytes or more, larger than the limit of %d bytes", size, limit), nil)
}
