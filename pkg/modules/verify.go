package modules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// verify checks the module's size, digest and magic, and fills in Digest.
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
	sum := sha256.Sum256(m.Wasm)
	got := hex.EncodeToString(sum[:])
	m.Digest = "sha256:" + got
	if wantSHA256 != "" && got != wantSHA256 {
		return permanent(ReasonDigestMismatch, fmt.Sprintf(
			"module has sha256 %s, spec.module.sha256 wants %s: it will not run", got, wantSHA256), nil)
	}
	return CheckWasm(m.Wasm)
}

// CheckWasm reports, as an *Error with ReasonNotWasm, bytes that are not a
// WebAssembly core module (binary format version 1).
func CheckWasm(b []byte) error {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return permanent(ReasonNotWasm, "not a WebAssembly module: it does not start with the magic bytes \\0asm", nil)
	}
	switch version := string(b[4:8]); {
	case version == "\x01\x00\x00\x00":
		return nil
	case b[6] == 1 && b[7] == 0: // layer 1: the component model
		return permanent(ReasonNotWasm, "a WebAssembly component, not a core module: build the guest as a core module "+
			"(GOOS=wasip1 GOARCH=wasm)", nil)
	default:
		return permanent(ReasonNotWasm, fmt.Sprintf("WebAssembly binary format version %x is not supported: only version 1 is", b[4:8]), nil)
	}
}

func tooLarge(size, limit int64) *Error {
	return permanent(ReasonModuleTooLarge, fmt.Sprintf("module is %d bytes or more, larger than the limit of %d bytes", size, limit), nil)
}
