package modules

import (
	"bytes"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

func TestExtractCompat(t *testing.T) {
	wasm := wasmModule("compat")
	got, err := extractCompat(modulestest.CompatLayer(t, wasm), 1024)
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("extractCompat = %q, %v", got, err)
	}
	if _, err := extractCompat(modulestest.CompatLayer(t, wasm), 8); ReasonOf(err) != ReasonModuleTooLarge {
		t.Fatalf("extractCompat over the limit: %v", err)
	}
	if _, err := extractCompat([]byte("not a tar"), 1024); ReasonOf(err) != ReasonUnsupportedArtifact {
		t.Fatalf("extractCompat of garbage: %v", err)
	}
}

// FuzzExtractCompat feeds layers, which registries serve, to the tar reader.
func FuzzExtractCompat(f *testing.F) {
	f.Add(modulestest.CompatLayer(f, wasmModule("seed")))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, layer []byte) {
		wasm, err := extractCompat(layer, 1<<16)
		if err == nil && len(wasm) > 1<<16 {
			t.Fatalf("extractCompat returned %d bytes over its limit", len(wasm))
		}
	})
}

// FuzzCheckWasm feeds module bytes to the check that runs before a module
// is stored or compiled.
func FuzzCheckWasm(f *testing.F) {
	f.Add(wasmModule("seed"))
	f.Add([]byte("\x00asm\x0d\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckWasm(b) == nil && (len(b) < 8 || string(b[:8]) != "\x00asm\x01\x00\x00\x00") {
			t.Fatalf("CheckWasm accepted %q", b)
		}
	})
}
