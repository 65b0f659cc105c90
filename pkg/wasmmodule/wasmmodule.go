// Package wasmmodule holds the two facts about a WebAssembly module's bytes
// that the API, the module store and the runtime must agree on: whether
// they are a core module of the binary format this host runs (CheckHeader)
// and the digest that identifies them (Digest). It imports only the
// standard library, so every layer can use it.
package wasmmodule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// HeaderSize is the size of a module's header: the magic bytes and the
// binary format version.
const HeaderSize = 8

// magic starts every WebAssembly binary, module or component.
const magic = "\x00asm"

// version1 is the binary format version of core modules, little-endian.
const version1 = "\x01\x00\x00\x00"

// HasMagic reports whether b starts with the WebAssembly magic bytes,
// whatever follows: the way to tell a module from an archive holding one.
func HasMagic(b []byte) bool {
	return len(b) >= len(magic) && string(b[:len(magic)]) == magic
}

// CheckHeader reports, with a message a tenant can act on, bytes that do
// not start as a WebAssembly core module of binary format version 1: not
// WebAssembly at all, a component, or another version. The rest of the
// module is not looked at.
func CheckHeader(b []byte) error {
	if len(b) < HeaderSize || !HasMagic(b) {
		return errors.New("not a WebAssembly module: it does not start with the magic bytes \\0asm")
	}
	switch version := string(b[4:HeaderSize]); {
	case version == version1:
		return nil
	case b[6] == 1 && b[7] == 0: // layer 1: the component model
		return errors.New("a WebAssembly component, not a core module: build the guest as a core module (GOOS=wasip1 GOARCH=wasm)")
	default:
		return fmt.Errorf("WebAssembly binary format version %x is not supported: only version 1 is", b[4:HeaderSize])
	}
}

// DigestPrefix starts every Digest: the algorithm, as OCI digests name it.
const DigestPrefix = "sha256:"

// Digest returns the digest a module is identified by: "sha256:" and the
// lowercase hexadecimal SHA-256 of its bytes, the form OCI digests take.
// The module store keys modules by it and the runtime shares compiled code
// by it, so one module is one digest everywhere.
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return DigestPrefix + hex.EncodeToString(sum[:])
}
