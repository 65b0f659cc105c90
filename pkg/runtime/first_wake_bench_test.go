package runtime_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// BenchmarkFirstWake is the first wake of a controller whose guest the
// runtime never started before (a new name at each iteration), with
// templates on, ending with one reconcile and the instance closed:
// same-namespace controllers share their module's template (the guest is
// built with the SDK, which declares that its init does not need the
// controller's name); new-namespace puts each controller in a namespace of
// its own, so no template serves it: it initializes and keeps a template
// while the budget has room, as every controller did while templates were
// keyed by the controller's name.
func BenchmarkFirstWake(b *testing.B) {
	for _, g := range resumeGuests {
		b.Run(g.name, func(b *testing.B) {
			for _, shared := range []bool{true, false} {
				name := "new-namespace"
				if shared {
					name = "same-namespace"
				}
				b.Run(name, func(b *testing.B) {
					r, m := benchModule(b, g.name, runtime.Config{
						TemplateBudgetBytes: runtime.DefaultTemplateBudgetBytes, TemplateDir: filepath.Join(b.TempDir(), "templates")})
					req := runtime.Request{Namespace: "default", Name: "cm", Reason: "event"}
					n := 0
					start := func() *runtime.Instance {
						n++
						tenant := "default"
						if !shared {
							tenant = fmt.Sprintf("ns-%d", n)
						}
						return startReconciled(b, m, runtime.InstanceConfig{Name: fmt.Sprintf("%s/controller-%d", tenant, n), Tenant: tenant,
							MemoryLimit: g.limit, API: &fakeAPI{}, Logger: discard}, req)
					}
					// The module's first controller starts before the
					// timing in both.
					start().Close(b.Context())
					measure(b, func() { start().Close(b.Context()) })
					b.ReportMetric(float64(r.TemplateBytes()), "template-bytes")
				})
			}
		})
	}
}
