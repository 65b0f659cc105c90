package wasmcontroller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
)

// testCeilings are the server's default ceilings but for the module's,
// lowered so that an inline module can exceed it.
var testCeilings = validation.Ceilings{MemoryBytes: 128 << 20, ReconcileTimeout: 5 * time.Minute, MaxConcurrentReconciles: 4, ModuleBytes: 64 << 10}

func quantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

// TestStrategy_DefaultLimits: limits left empty get the API's defaults,
// lowered to the ceilings, on create and on update, and the result passes
// validation; limits that were given are kept.
func TestStrategy_DefaultLimits(t *testing.T) {
	tests := []struct {
		name     string
		ceilings validation.Ceilings
		limits   controllers.Limits
		want     controllers.Limits
	}{
		{
			name: "defaults under the ceilings", ceilings: testCeilings,
			want: controllers.Limits{Memory: quantity("64Mi"), ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: 1},
		},
		{
			name: "no ceilings",
			want: controllers.Limits{Memory: quantity("64Mi"), ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: 1},
		},
		{
			name:     "ceilings lowered under the defaults",
			ceilings: validation.Ceilings{MemoryBytes: 16 << 20, ReconcileTimeout: 10 * time.Second, MaxConcurrentReconciles: 1, ModuleBytes: 1 << 20},
			want:     controllers.Limits{Memory: quantity("16Mi"), ReconcileTimeout: &metav1.Duration{Duration: 10 * time.Second}, MaxConcurrentReconciles: 1},
		},
		{
			name: "given limits are kept", ceilings: testCeilings,
			limits: controllers.Limits{Memory: quantity("100Mi"), ReconcileTimeout: &metav1.Duration{Duration: time.Minute}, MaxConcurrentReconciles: 3},
			want:   controllers.Limits{Memory: quantity("100Mi"), ReconcileTimeout: &metav1.Duration{Duration: time.Minute}, MaxConcurrentReconciles: 3},
		},
		{
			name: "only the empty one is filled", ceilings: testCeilings,
			limits: controllers.Limits{Memory: quantity("8Mi"), MaxConcurrentReconciles: 2},
			want:   controllers.Limits{Memory: quantity("8Mi"), ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStrategy(newScheme(t), tt.ceilings, testRules(t))

			created := newWasmController()
			created.ResourceVersion = ""
			created.Spec.Limits = *tt.limits.DeepCopy()
			s.PrepareForCreate(t.Context(), created)
			if diff := cmp.Diff(tt.want, created.Spec.Limits); diff != "" {
				t.Errorf("PrepareForCreate limits (-want +got):\n%s", diff)
			}
			checkFields(t, s.Validate(t.Context(), created), "")

			old := newWasmController()
			old.Spec.Limits.Memory = quantity("4Gi") // stored under a higher ceiling
			updated := old.DeepCopy()
			updated.Spec.Limits = *tt.limits.DeepCopy()
			s.PrepareForUpdate(t.Context(), updated, old)
			if diff := cmp.Diff(tt.want, updated.Spec.Limits); diff != "" {
				t.Errorf("PrepareForUpdate limits (-want +got):\n%s", diff)
			}
			checkFields(t, s.ValidateUpdate(t.Context(), updated, old), "")
		})
	}
}

// TestStrategy_ValidateUpdate_Ratchets: a ceiling lowered after an object
// was stored does not block updates that leave its limits alone.
func TestStrategy_ValidateUpdate_Ratchets(t *testing.T) {
	s := NewStrategy(newScheme(t), validation.Ceilings{MemoryBytes: 16 << 20, ReconcileTimeout: 10 * time.Second,
		MaxConcurrentReconciles: 1, ModuleBytes: 1 << 20}, testRules(t))
	old := newWasmController()
	old.Spec.Limits = controllers.Limits{Memory: quantity("1Gi"), ReconcileTimeout: &metav1.Duration{Duration: time.Hour}, MaxConcurrentReconciles: 64}
	wc := old.DeepCopy()
	wc.Spec.Paused = true
	wc.Labels = map[string]string{"team": "b"}
	s.PrepareForUpdate(t.Context(), wc, old)
	checkFields(t, s.ValidateUpdate(t.Context(), wc, old), "")

	wc.Spec.Limits.MaxConcurrentReconciles = 2
	checkFields(t, s.ValidateUpdate(t.Context(), wc, old), "spec.limits.maxConcurrentReconciles")
}
