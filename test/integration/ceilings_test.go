package integration

import (
	"strings"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/cmd/server"
)

// withMemoryCeiling sets --max-controller-memory.
func withMemoryCeiling(q string) func(*server.Options) {
	return func(o *server.Options) { o.Ceilings.MaxControllerMemory = q }
}

// TestServer_Ceilings: kubectl is refused limits over the administrator's
// ceilings, with the field path and the flag to raise; an empty limit gets a
// default within them; lowering a ceiling does not freeze the objects
// stored under the higher one.
func TestServer_Ceilings(t *testing.T) {
	withLimits := func(name, limits string) string {
		return strings.ReplaceAll(minimalWC, "%s", name) + "  limits:\n" + limits
	}

	// Under a generous ceiling, a controller asks for 1Gi.
	s := startServer(t, t.TempDir(), withMemoryCeiling("2Gi"))
	s.mustKubectl(t, withLimits("roomy", "    memory: 1Gi\n"), "apply", "-f", "-")

	// The administrator restarts the server with the default ceilings.
	s.stop(t)
	s = startServer(t, s.StateDir)
	tests := []struct {
		name, limits, wantField, wantFlag string
	}{
		{"memory", "    memory: 1Gi\n", "spec.limits.memory", "--max-controller-memory"},
		{"timeout", "    reconcileTimeout: 1h\n", "spec.limits.reconcileTimeout", "--max-reconcile-timeout"},
		{"concurrency", "    maxConcurrentReconciles: 16\n", "spec.limits.maxConcurrentReconciles", "--max-concurrent-reconciles"},
	}
	for _, tt := range tests {
		out, err := s.kubectl(t, withLimits("greedy-"+tt.name, tt.limits), "apply", "-f", "-")
		if err == nil || !strings.Contains(out, tt.wantField+": Forbidden") || !strings.Contains(out, tt.wantFlag) {
			t.Errorf("kubectl apply over the %s ceiling: err=%v, want a refusal naming %s and %s:\n%s",
				tt.name, err, tt.wantField, tt.wantFlag, out)
		}
	}
	out, err := s.kubectl(t, withLimits("greedy", "    memory: 1Gi\n"), "apply", "--server-side", "-f", "-")
	if err == nil || !strings.Contains(out, "spec.limits.memory: Forbidden: 1Gi exceeds the server's ceiling of 128Mi (--max-controller-memory)") {
		t.Errorf("kubectl apply --server-side over the memory ceiling: err=%v\n%s", err, out)
	}
	s.mustKubectl(t, withLimits("within", "    memory: 128Mi\n    reconcileTimeout: 5m\n    maxConcurrentReconciles: 4\n"), "apply", "-f", "-")

	// The stored 1Gi stays through updates that leave it alone...
	s.mustKubectl(t, "", "label", "wc", "roomy", "tier=edge")
	s.mustKubectl(t, "", "patch", "wc", "roomy", "--type=merge", "-p", `{"spec":{"paused":true}}`)
	if out := s.mustKubectl(t, "", "get", "wc", "roomy", "-o", "jsonpath={.spec.limits.memory} {.spec.paused}"); out != "1Gi true" {
		t.Errorf("roomy after label and pause: %q, want \"1Gi true\"", out)
	}
	// ...but may not be changed to another value over the ceiling.
	out, err = s.kubectl(t, "", "patch", "wc", "roomy", "--type=merge", "-p", `{"spec":{"limits":{"memory":"512Mi"}}}`)
	if err == nil || !strings.Contains(out, "spec.limits.memory: Forbidden: 512Mi exceeds the server's ceiling of 128Mi") {
		t.Errorf("raising roomy's memory within the old ceiling: err=%v\n%s", err, out)
	}

	// A ceiling under a default lowers the default.
	s.stop(t)
	s = startServer(t, s.StateDir, withMemoryCeiling("32Mi"))
	s.mustKubectl(t, strings.ReplaceAll(minimalWC, "%s", "defaulted"), "apply", "-f", "-")
	if out := s.mustKubectl(t, "", "get", "wc", "defaulted", "-o", "jsonpath={.spec.limits.memory}"); out != "32Mi" {
		t.Errorf("default memory under a 32Mi ceiling = %q, want 32Mi", out)
	}
}
