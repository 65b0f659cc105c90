package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// replicatorNamespaces is how many namespaces the replicator's burst
// copies its ConfigMap into: the N of the system benchmark at 1,000.
const replicatorNamespaces = 1000

// replicatorWasm builds examples/configmap-replicator once.
var replicatorWasm = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "replicator")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "replicator.wasm")
	cmd := exec.Command("go", "-C", filepath.Join("..", "..", "examples", "configmap-replicator"), "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the replicator: %v\n%s", err, b)
	}
	return os.ReadFile(out)
})

// replicatorAPI is a cluster of replicatorNamespaces target namespaces and
// one source ConfigMap, src/config, none copied yet: a reconcile of the
// source lists the namespaces, creates a copy in each, and lists the copies.
type replicatorAPI struct{ data map[string]string }

func newReplicatorAPI() *replicatorAPI {
	data := map[string]string{}
	for i := range 16 {
		data[fmt.Sprintf("key-%d", i)] = strings.Repeat("v", 64)
	}
	return &replicatorAPI{data: data}
}

func (a *replicatorAPI) configMap(namespace string, labels map[string]string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": a.data,
		"metadata": map[string]any{"namespace": namespace, "name": "config", "uid": "uid-" + namespace, "resourceVersion": "1", "labels": labels}}
}

func (a *replicatorAPI) ServeAPI(_ context.Context, req *runtime.APIRequest) *runtime.APIResponse {
	reply := func(status int, body any) *runtime.APIResponse {
		b, _ := json.Marshal(body)
		return &runtime.APIResponse{Status: status, Body: b}
	}
	switch {
	case req.Method == http.MethodGet && req.Path == "/api/v1/namespaces/src/configmaps/config":
		return reply(http.StatusOK, a.configMap("src", map[string]string{"wasm.io/replicate": "true"}))
	case req.Method == http.MethodGet && req.Path == "/api/v1/namespaces":
		items := make([]any, replicatorNamespaces)
		for i := range items {
			items[i] = map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
				"name": fmt.Sprintf("team-%d", i), "labels": map[string]string{"wasm.io/replicate-configmaps": "true"}}}
		}
		return reply(http.StatusOK, map[string]any{"apiVersion": "v1", "kind": "NamespaceList", "metadata": map[string]any{}, "items": items})
	case req.Method == http.MethodGet && req.Path == "/api/v1/configmaps":
		items := make([]any, replicatorNamespaces)
		for i := range items {
			items[i] = a.configMap(fmt.Sprintf("team-%d", i), map[string]string{"wasm.io/replicated-from": "src.config"})
		}
		return reply(http.StatusOK, map[string]any{"apiVersion": "v1", "kind": "ConfigMapList", "metadata": map[string]any{}, "items": items})
	case req.Method == http.MethodPost:
		return &runtime.APIResponse{Status: http.StatusCreated, Body: req.Body}
	}
	return reply(http.StatusNotFound, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

// BenchmarkCompact_ReplicatorFootprint measures the resident linear memory
// of a warm replicator after it copied a ConfigMap into 1,000 namespaces,
// as it is and after Compact.
func BenchmarkCompact_ReplicatorFootprint(b *testing.B) {
	wasm, err := replicatorWasm()
	if err != nil {
		b.Fatal(err)
	}
	m, err := sharedRuntime(b).Load(b.Context(), wasm)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release(context.Background())
	for _, compact := range []bool{false, true} {
		name := "as-is"
		if compact {
			name = "compacted"
		}
		b.Run(name, func(b *testing.B) {
			var resident, memory, released uint64
			var took time.Duration
			for b.Loop() {
				inst, err := m.Instantiate(b.Context(), runtime.InstanceConfig{Name: "bench/replicator", MemoryLimit: 256 << 20, API: newReplicatorAPI()})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := inst.Reconcile(b.Context(), runtime.Request{Namespace: "src", Name: "config", Reason: "event"}); err != nil {
					b.Fatal(err)
				}
				if compact {
					start := time.Now()
					n, err := inst.Compact(b.Context())
					took += time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					released += n
				}
				resident += runtime.ResidentBytes(inst)
				memory += inst.MemoryBytes()
				inst.Close(context.Background())
			}
			n := float64(b.N) * (1 << 20)
			b.ReportMetric(float64(resident)/n, "resident-MiB")
			b.ReportMetric(float64(memory)/n, "memory-MiB")
			b.ReportMetric(float64(released)/n, "released-MiB")
			b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "compact-ms")
		})
	}
}

// BenchmarkCompact_Unchanged measures what Compact adds to a reconcile of
// a small guest that allocates little, as before each snapshot of a guest
// suspended after every reconcile: the guest returns at once, and the host
// scans its resident pages.
func BenchmarkCompact_Unchanged(b *testing.B) {
	inst := instantiate(b, sharedRuntime(b), "echo", &fakeAPI{}, 64<<20)
	if _, err := inst.Compact(b.Context()); err != nil {
		b.Fatal(err)
	}
	for _, compact := range []bool{false, true} {
		name := "reconcile"
		if compact {
			name = "reconcile+compact"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := inst.Reconcile(b.Context(), runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}); err != nil {
					b.Fatal(err)
				}
				if !compact {
					continue
				}
				if _, err := inst.Compact(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
