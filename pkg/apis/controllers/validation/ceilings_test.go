package validation

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
)

// testCeilings are the server's default ceilings but for the module's,
// lowered so that an inline module can exceed it.
var testCeilings = Ceilings{MemoryBytes: 128 << 20, ReconcileTimeout: 5 * time.Minute, MaxConcurrentReconciles: 4, ModuleBytes: 64 << 10}

func inlineModule(n int) []byte {
	return append(bytes.Clone(wasmModule), make([]byte, n-len(wasmModule))...)
}

func TestValidateWasmController_Ceilings(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(wc *controllers.WasmController)
		ceilings Ceilings
		want     []wantError
	}{
		{name: "under every ceiling", ceilings: testCeilings, mutate: func(*controllers.WasmController) {}},
		{
			name: "at every ceiling", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Limits = controllers.Limits{Memory: quantity("128Mi"), ReconcileTimeout: duration(5 * time.Minute), MaxConcurrentReconciles: 4}
				wc.Spec.Module = controllers.ModuleSource{Inline: inlineModule(64 << 10)}
			},
		},
		{
			name: "memory over", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("1Gi") },
			want: []wantError{{field.ErrorTypeForbidden, "spec.limits.memory",
				"spec.limits.memory: Forbidden: 1Gi exceeds the server's ceiling of 128Mi (--max-controller-memory)"}},
		},
		{
			name: "memory over by a byte", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("134217729") },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.limits.memory", "134217729 exceeds the server's ceiling of 128Mi"}},
		},
		{
			name: "reconcile timeout over", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.ReconcileTimeout = duration(time.Hour) },
			want: []wantError{{field.ErrorTypeForbidden, "spec.limits.reconcileTimeout",
				"1h0m0s exceeds the server's ceiling of 5m0s (--max-reconcile-timeout)"}},
		},
		{
			name: "concurrency over", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.MaxConcurrentReconciles = 5 },
			want: []wantError{{field.ErrorTypeForbidden, "spec.limits.maxConcurrentReconciles",
				"5 exceeds the server's ceiling of 4 (--max-concurrent-reconciles)"}},
		},
		{
			name: "inline module over", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Module = controllers.ModuleSource{Inline: inlineModule(64<<10 + 1)}
			},
			want: []wantError{{field.ErrorTypeForbidden, "spec.module.inline",
				"a module of 65537 bytes exceeds the server's ceiling of 64Ki (--max-module-size)"}},
		},
		{
			name: "every field over, every error", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Limits = controllers.Limits{Memory: quantity("4Gi"), ReconcileTimeout: duration(time.Hour), MaxConcurrentReconciles: 64}
				wc.Spec.Module = controllers.ModuleSource{Inline: inlineModule(1 << 20)}
			},
			want: []wantError{
				{field.ErrorTypeForbidden, "spec.limits.memory", ""},
				{field.ErrorTypeForbidden, "spec.limits.reconcileTimeout", ""},
				{field.ErrorTypeForbidden, "spec.limits.maxConcurrentReconciles", ""},
				{field.ErrorTypeForbidden, "spec.module.inline", ""},
			},
		},
		{
			name: "no ceilings: the API's bounds only",
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Limits = controllers.Limits{Memory: quantity("4Gi"), ReconcileTimeout: duration(time.Hour), MaxConcurrentReconciles: 64}
			},
		},
		{
			name: "empty fields are left to the defaults", ceilings: testCeilings,
			mutate: func(wc *controllers.WasmController) {
				wc.Spec.Limits.Memory, wc.Spec.Limits.ReconcileTimeout = nil, nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := validWasmController()
			tt.mutate(wc)
			checkErrors(t, ValidateWasmController(wc, tt.ceilings, testRules(t)), tt.want)
			// The host's check finds the same errors, with the path it gives.
			checkErrors(t, ValidateLimitsWithin(&wc.Spec, tt.ceilings, field.NewPath("spec")), tt.want)
		})
	}
}

// TestValidateWasmControllerUpdate_Ceilings: a value stored before a ceiling
// was lowered does not block an update that leaves it alone; a changed value
// must be within the ceiling, even if lower than the stored one.
func TestValidateWasmControllerUpdate_Ceilings(t *testing.T) {
	overCeilings := func(wc *controllers.WasmController) {
		wc.Spec.Limits = controllers.Limits{Memory: quantity("1Gi"), ReconcileTimeout: duration(time.Hour), MaxConcurrentReconciles: 64}
		wc.Spec.Module = controllers.ModuleSource{Inline: inlineModule(1 << 20)}
	}
	tests := []struct {
		name   string
		old    func(wc *controllers.WasmController)
		mutate func(wc *controllers.WasmController)
		want   []wantError
	}{
		{
			name: "labels and pause on a stored object over every ceiling", old: overCeilings,
			mutate: func(wc *controllers.WasmController) {
				wc.Labels = map[string]string{"team": "a"}
				wc.Spec.Paused = true
			},
		},
		{
			name: "memory lowered but still over", old: overCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("512Mi") },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.limits.memory", "512Mi exceeds the server's ceiling of 128Mi"}},
		},
		{
			name: "memory brought within; the rest ratchets", old: overCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("128Mi") },
		},
		{
			name: "same memory written differently", old: overCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("1024Mi") },
		},
		{
			name: "timeout changed, still over", old: overCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.ReconcileTimeout = duration(30 * time.Minute) },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.limits.reconcileTimeout", "(--max-reconcile-timeout)"}},
		},
		{
			name: "concurrency changed, still over", old: overCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.MaxConcurrentReconciles = 8 },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.limits.maxConcurrentReconciles", "(--max-concurrent-reconciles)"}},
		},
		{
			name: "new inline module over", old: overCeilings,
			mutate: func(wc *controllers.WasmController) { wc.Spec.Module.Inline = inlineModule(1<<20 - 1) },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.module.inline", "(--max-module-size)"}},
		},
		{
			name: "raised over the ceiling", old: func(*controllers.WasmController) {},
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.Memory = quantity("256Mi") },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.limits.memory", "256Mi exceeds the server's ceiling of 128Mi"}},
		},
		{
			name: "set where it was empty", old: func(wc *controllers.WasmController) { wc.Spec.Limits.ReconcileTimeout = nil },
			mutate: func(wc *controllers.WasmController) { wc.Spec.Limits.ReconcileTimeout = duration(10 * time.Minute) },
			want:   []wantError{{field.ErrorTypeForbidden, "spec.limits.reconcileTimeout", ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validWasmController()
			tt.old(old)
			wc := old.DeepCopy()
			tt.mutate(wc)
			checkErrors(t, ValidateWasmControllerUpdate(wc, old, testCeilings, testRules(t)), tt.want)
		})
	}
}

func TestCeilings_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Ceilings)
		want   []string
	}{
		{name: "defaults", mutate: func(*Ceilings) {}},
		{
			name: "at the API's bounds",
			mutate: func(c *Ceilings) {
				*c = Ceilings{MemoryBytes: 4 << 30, ReconcileTimeout: time.Hour, MaxConcurrentReconciles: 64, ModuleBytes: 1 << 30}
			},
		},
		{
			name: "lowest",
			mutate: func(c *Ceilings) {
				*c = Ceilings{MemoryBytes: 1 << 20, ReconcileTimeout: time.Nanosecond, MaxConcurrentReconciles: 1, ModuleBytes: 1}
			},
		},
		{
			name:   "zero",
			mutate: func(c *Ceilings) { *c = Ceilings{} },
			want: []string{
				"--max-controller-memory must be between 1Mi and 4Gi, got 0",
				"--max-reconcile-timeout must be positive and at most 1h0m0s, got 0s",
				"--max-concurrent-reconciles must be between 1 and 64, got 0",
				"--max-module-size must be positive and at most 1Gi, got 0",
			},
		},
		{
			name: "over the API's bounds",
			mutate: func(c *Ceilings) {
				*c = Ceilings{MemoryBytes: 8 << 30, ReconcileTimeout: 2 * time.Hour, MaxConcurrentReconciles: 65, ModuleBytes: 2 << 30}
			},
			want: []string{
				"--max-controller-memory must be between 1Mi and 4Gi, got 8Gi",
				"--max-reconcile-timeout must be positive and at most 1h0m0s, got 2h0m0s",
				"--max-concurrent-reconciles must be between 1 and 64, got 65",
				"--max-module-size must be positive and at most 1Gi, got 2Gi",
			},
		},
		{
			name:   "negative timeout",
			mutate: func(c *Ceilings) { c.ReconcileTimeout = -time.Second },
			want:   []string{"--max-reconcile-timeout must be positive and at most 1h0m0s, got -1s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCeilings
			tt.mutate(&c)
			var got []string
			for _, err := range c.Validate() {
				got = append(got, err.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
