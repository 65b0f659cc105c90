package examples

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	sdkModule = "github.com/wasm-apiserver/wasm-apiserver/sdk"
	// crtModule is the sdk's controller-runtime adapter, a module of its own.
	crtModule = sdkModule + "/controllerruntime"
)

// isSDK says whether a module path is one of the sdk's modules.
func isSDK(path string) bool {
	return path == sdkModule || path == crtModule
}

// TestModules_NoServerDependencies: an example controller depends on the sdk
// modules the way a user's controller does, and the sdk pulls in none of
// the server's dependencies (k8s.io/apiserver, etcd, wazero, ...) and bumps
// no version of the controller's own:
//   - a module of the server's graph is in an example's graph only when the
//     example's own requirements (not the sdk's) lead to it: an example
//     built on controller-runtime has the k8s.io modules controller-runtime
//     requires, one built on the sdk alone has none;
//   - a module the sdk modules require is required at that version by a
//     dependency other than the sdk as well (the controller-runtime adapter
//     requires what controller-runtime requires, nothing more or newer).
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
	dirs = append(dirs, filepath.Join("..", "sdk"), filepath.Join("..", "sdk", "controllerruntime"))
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			self := modules(t, goTool, dir, "list", "-m")
			if len(self) != 1 || self[module(t, goTool, "..")] {
				t.Fatalf("%s is not a module of its own: go list -m says %v", dir, self)
			}
			edges := moduleGraph(t, goTool, dir)
			own := reachable(edges, directRequirements(t, goTool, dir))
			requiredBySDK := false
			for _, e := range edges {
				from, to := modulePath(e.from), modulePath(e.to)
				if server[to] && !isSDK(to) && !own[to] {
					t.Errorf("%s depends on %s, a dependency of the server, through the sdk", dir, e.to)
				}
				requiredBySDK = requiredBySDK || to == sdkModule
				if isSDK(from) && !isSDK(to) && !adapted(from, to) && !requiredElsewhere(edges, e.to) {
					t.Errorf("%s requires %s, which no dependency but the sdk requires at that version", e.from, e.to)
				}
			}
			if filepath.Base(dir) != "sdk" && !requiredBySDK {
				t.Errorf("%s does not require the sdk module %s", dir, sdkModule)
			}
		})
	}
}

// adapted says whether an sdk module requires a module it exists for: the
// controller-runtime adapter requires controller-runtime. The go version
// line is in the graph as module "go".
func adapted(sdk, dep string) bool {
	return dep == "go" || dep == "toolchain" || (sdk == crtModule && dep == "sigs.k8s.io/controller-runtime")
}

// edge is a line of go mod graph: from requires to, each "path@version"
// (the main module without a version).
type edge struct{ from, to string }

// moduleGraph returns the edges go mod graph prints in dir.
func moduleGraph(t *testing.T, goTool, dir string) []edge {
	t.Helper()
	var edges []edge
	for _, line := range strings.Split(strings.TrimSpace(goOutput(t, goTool, dir, "mod", "graph")), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			edges = append(edges, edge{from: f[0], to: f[1]})
		}
	}
	return edges
}

// directRequirements returns the paths of the modules the go.mod in dir
// requires other than as indirect, the sdk's aside.
func directRequirements(t *testing.T, goTool, dir string) []string {
	t.Helper()
	var mod struct {
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal([]byte(goOutput(t, goTool, dir, "mod", "edit", "-json")), &mod); err != nil {
		t.Fatalf("go mod edit -json in %s: %v", dir, err)
	}
	var paths []string
	for _, r := range mod.Require {
		if !r.Indirect && !isSDK(r.Path) {
			paths = append(paths, r.Path)
		}
	}
	return paths
}

// reachable returns the module paths the graph leads to from roots,
// without passing through the sdk's modules.
func reachable(edges []edge, roots []string) map[string]bool {
	seen := map[string]bool{}
	queue := append([]string(nil), roots...)
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if seen[m] || isSDK(m) {
			continue
		}
		seen[m] = true
		for _, e := range edges {
			if modulePath(e.from) == m {
				queue = append(queue, modulePath(e.to))
			}
		}
	}
	return seen
}

// requiredElsewhere says whether a dependency (neither the main module nor
// an sdk module) requires to, "path@version", at that version.
func requiredElsewhere(edges []edge, to string) bool {
	for _, e := range edges {
		if e.to == to && strings.Contains(e.from, "@") && !isSDK(modulePath(e.from)) {
			return true
		}
	}
	return false
}

// modulePath strips the @version of a module of go mod graph.
func modulePath(m string) string {
	path, _, _ := strings.Cut(m, "@")
	return path
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

// modules runs go list in dir and returns the module paths it prints (the
// first field of each line, without its @version).
func modules(t *testing.T, goTool, dir string, args ...string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(goOutput(t, goTool, dir, args...)), "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			found[modulePath(fields[0])] = true
		}
	}
	return found
}

// goOutput runs the go command in dir and returns its standard output.
func goOutput(t *testing.T, goTool, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), goTool, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return string(out)
}
