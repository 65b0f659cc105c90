package examples

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const sdkModule = "github.com/wasm-apiserver/wasm-apiserver/sdk"

// serverOnly are modules of the server no controller needs: the API server
// library, the runtime, the embedded etcd, CEL.
var serverOnly = []string{
	"k8s.io/apiserver",
	"k8s.io/component-base",
	"github.com/tetratelabs/wazero",
	"go.etcd.io/etcd/server/v3",
	"github.com/google/cel-go",
}

// TestModules_NoServerDependencies: an example controller depends on the sdk
// module the way a user's controller does, and building it pulls in none of
// the server's dependencies (k8s.io/apiserver, etcd, wazero, ...): the
// module graph of the sdk and of every example holds no module the server's
// graph holds, the sdk aside.
func TestModules_NoServerDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the module graphs: %v", err)
	}
	server := modules(t, goTool, "..", "list", "-m", "all")
	if !server["k8s.io/apiserver"] || !server[sdkModule] {
		t.Fatalf("the server's modules lack k8s.io/apiserver or the sdk: %v", server)
	}

	dirs, err := filepath.Glob(filepath.Join("*", "main.go"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for i, main := range dirs {
		dirs[i] = filepath.Dir(main)
	}
	dirs = append(dirs, filepath.Join("..", "sdk"))
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			self := modules(t, goTool, dir, "list", "-m")
			if len(self) != 1 || self[module(t, goTool, "..")] {
				t.Fatalf("%s is not a module of its own: go list -m says %v", dir, self)
			}
			graph := modules(t, goTool, dir, "mod", "graph")
			if sdkRequires := requiredBy(t, goTool, dir, sdkModule); len(sdkRequires) > 0 {
				t.Errorf("%s: the sdk module requires %v", dir, sdkRequires)
			}
			if direct := directRequirements(t, goTool, dir); len(direct) > 1 || (len(direct) == 1 && direct[0] != sdkModule) {
				// An example on client-go shares client-go's dependencies
				// with the server, by its own choice; it must still hold
				// nothing that only the server needs.
				for _, m := range serverOnly {
					if graph[m] {
						t.Errorf("%s (requiring %v) depends on %s, a dependency of the server only", dir, direct, m)
					}
				}
				return
			}
			for m := range graph {
				if server[m] && m != sdkModule {
					t.Errorf("%s depends on %s, a dependency of the server", dir, m)
				}
			}
			if filepath.Base(dir) != "sdk" && !graph[sdkModule] {
				t.Errorf("%s does not require the sdk module %s", dir, sdkModule)
			}
		})
	}
}

// requiredBy returns the modules that module requires in the module graph
// of dir: the targets of its edges in go mod graph, but the go version and
// toolchain.
func requiredBy(t *testing.T, goTool, dir, module string) []string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), goTool, "mod", "graph")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod graph in %s: %v", dir, err)
	}
	var required []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		from, to, ok := strings.Cut(line, " ")
		if path, _, _ := strings.Cut(from, "@"); ok && path == module && !strings.HasPrefix(to, "go@") && !strings.HasPrefix(to, "toolchain@") {
			required = append(required, to)
		}
	}
	return required
}

// directRequirements returns the modules the go.mod in dir requires
// directly (not marked indirect).
func directRequirements(t *testing.T, goTool, dir string) []string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), goTool, "mod", "edit", "-json")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod edit -json in %s: %v", dir, err)
	}
	var mod struct {
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatalf("go mod edit -json in %s: %v", dir, err)
	}
	var direct []string
	for _, r := range mod.Require {
		if !r.Indirect {
			direct = append(direct, r.Path)
		}
	}
	return direct
}

// module returns the path of the module in dir.
func module(t *testing.T, goTool, dir string) string {
	t.Helper()
	for m := range modules(t, goTool, dir, "list", "-m") {
		return m
	}
	t.Fatalf("no module in %s", dir)
	return ""
}

// modules runs the go command in dir and returns the module paths it prints:
// the first field of each line of go list -m, both of go mod graph, each
// without its @version.
func modules(t *testing.T, goTool, dir string, args ...string) map[string]bool {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), goTool, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	found := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if args[0] == "list" {
			fields = fields[:1]
		}
		for _, f := range fields {
			path, _, _ := strings.Cut(f, "@")
			found[path] = true
		}
	}
	return found
}
