package host

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// BenchmarkBundleMemory compares N controllers drawn from one bundle (each
// selecting one of its reconcilers in turn, as the controllers of
// kube-controller-manager share one binary) with N controllers of distinct
// modules (the bundle made distinct per controller by a custom section,
// as N separately built controllers would be): how many modules are
// compiled, their estimated compiled code per controller, and the host's
// RSS and PSS per controller, suspended and then with one instance each.
// Compiled code is bounded by the default --compiled-module-budget
// (256Mi), so suspended distinct modules beyond it are unloaded. Run with
// -benchtime=1x; the disk cache under _output/bench-cache makes later runs
// faster.
func BenchmarkBundleMemory(b *testing.B) {
	wasm := guesttest.Build(b, "bundle")
	reconcilers := []string{"configmaps", "secrets"}
	cacheDir, err := filepath.Abs(filepath.Join("..", "..", "_output", "bench-cache"))
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"bundle", "distinct"} {
		for _, n := range []int{10, 100} {
			b.Run(fmt.Sprintf("modules=%s/n=%d", kind, n), func(b *testing.B) {
				for range b.N {
					ctx := context.Background()
					rt, err := wasmruntime.New(ctx, wasmruntime.Config{CacheDir: cacheDir, CompiledBudgetBytes: 256 << 20})
					if err != nil {
						b.Fatal(err)
					}
					compiler, err := wakerule.NewCompiler(nil)
					if err != nil {
						b.Fatal(err)
					}
					base := readMemory(b)
					h := newTestServices(testServices{})
					controllers := make([]*controller, 0, n)
					for i := range n {
						bytes := wasm
						if kind == "distinct" {
							bytes = guesttest.WithCustomSection(wasm, fmt.Sprintf("bench-%d", i))
						}
						m, err := rt.Load(ctx, bytes)
						if err != nil {
							b.Fatal(err)
						}
						c := benchController(b, h, m, compiler, i)
						c.wc.Spec.Module.Reconciler = reconcilers[i%len(reconcilers)]
						c.pool.cfg.Reconciler = c.wc.Spec.Module.Reconciler
						if err := m.CheckReconciler(ctx, c.pool.cfg); err != nil {
							b.Fatal(err)
						}
						controllers = append(controllers, c)
					}
					suspended := readMemory(b).minus(base)
					b.ReportMetric(float64(rt.LoadedModules()), "modules")
					b.ReportMetric(float64(rt.CompiledBytes())/float64(n), "compiled-B/guest")
					b.ReportMetric(suspended.rss/float64(n), "suspended-RSS-B/guest")
					b.ReportMetric(suspended.pss/float64(n), "suspended-PSS-B/guest")
					for _, c := range controllers {
						inst, err := c.pool.resume(c.ctx)
						if err != nil {
							b.Fatal(err)
						}
						c.pool.putIdle(inst)
					}
					active := readMemory(b).minus(base)
					b.ReportMetric(active.rss/float64(n), "active-RSS-B/guest")
					b.ReportMetric(active.pss/float64(n), "active-PSS-B/guest")
					for _, c := range controllers {
						c.cancel()
						c.pool.suspendIdle()
						c.pool.module.Release(ctx)
					}
					_ = rt.Close(ctx)
				}
			})
		}
	}
}
