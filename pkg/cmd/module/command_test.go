package module

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SetContext(t.Context())
	err := cmd.Execute()
	return out.String(), err
}

func TestModuleCommand(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials of the user's
	reg := modulestest.NewRegistry(t)
	dir := t.TempDir()
	wasm := modulestest.WasmModule("cli")
	file := filepath.Join(dir, "controller.wasm")
	if err := os.WriteFile(file, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a module"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "push", file, reg.Ref("ctl/cli:v1"))
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	pushed, err := name.NewDigest(strings.TrimSpace(out))
	if err != nil || pushed.Context().String() != reg.Ref("ctl/cli") {
		t.Fatalf("push printed %q, want a reference by digest in %s (%v)", out, reg.Ref("ctl/cli"), err)
	}
	desc, err := remote.Get(pushed)
	if err != nil {
		t.Fatal(err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != modules.MediaTypeWasmConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != modules.MediaTypeWasmLayer {
		t.Fatalf("pushed manifest %+v is not the CNCF Wasm artifact", m)
	}

	if out, err := run(t, "push", text, reg.Ref("ctl/text:v1")); err == nil || modules.ReasonOf(err) != modules.ReasonNotWasm {
		t.Fatalf("push of a text file: %v\n%s", err, out)
	}

	out, err = run(t, "digest", file)
	sum := sha256.Sum256(wasm)
	if err != nil || strings.TrimSpace(out) != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest = %q, %v; want %x", out, err, sum)
	}
	if _, err := run(t, "push", file); err == nil {
		t.Fatal("push with one argument succeeded")
	}
}
