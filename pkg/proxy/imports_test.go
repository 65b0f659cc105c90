package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports: the proxy depends on no other package of this repository
// than the ABI's wire types (the sdk module's abi package), and never on the guest runtime or its WebAssembly
// engine: dependencies point from the host down to the proxy and the
// runtime, not between them.
func TestImports(t *testing.T) {
	const module = "github.com/wasm-apiserver/wasm-apiserver/"
	allowed := map[string]bool{module + "sdk/abi": true, module + "pkg/proxy": true}
	forbidden := []string{"github.com/tetratelabs/wazero"}

	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the imports: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, module) && !allowed[dep] {
			t.Errorf("pkg/proxy depends on %s; within this repository it may depend only on sdk/abi", dep)
		}
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("pkg/proxy depends on %s", dep)
			}
		}
	}
}
