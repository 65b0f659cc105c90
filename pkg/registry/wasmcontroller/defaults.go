package wasmcontroller

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
)

// defaultLimits fills the limits left empty with the API's defaults, each
// lowered to its ceiling where the administrator set one lower: a default
// the server chose must never be refused, nor run over a ceiling.
//
// This is the server's to do, not the decoder's (v1alpha1's defaulters),
// because only the server knows the ceilings, and once decoded a default
// cannot be told from a value the tenant wrote.
func defaultLimits(l *controllers.Limits, c validation.Ceilings) {
	if l.Memory == nil {
		q := resource.MustParse(v1alpha1.DefaultMemoryLimit)
		if c.MemoryBytes > 0 && q.Value() > c.MemoryBytes {
			q = *resource.NewQuantity(c.MemoryBytes, resource.BinarySI)
		}
		l.Memory = &q
	}
	if l.ReconcileTimeout == nil {
		d := v1alpha1.DefaultReconcileTimeout
		if c.ReconcileTimeout > 0 {
			d = min(d, c.ReconcileTimeout)
		}
		l.ReconcileTimeout = &metav1.Duration{Duration: d}
	}
	if l.MaxConcurrentReconciles == 0 {
		n := int32(v1alpha1.DefaultMaxConcurrentReconciles)
		if c.MaxConcurrentReconciles > 0 {
			n = min(n, c.MaxConcurrentReconciles)
		}
		l.MaxConcurrentReconciles = n
	}
}
