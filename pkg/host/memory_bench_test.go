package host

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// BenchmarkGuestMemory is the host's memory per controller, suspended and
// active, for N copies of one module and for N distinct modules (the same
// guest made distinct by a custom section, so each is compiled and held on
// its own, as different controllers would be). Each controller is what the
// host keeps for a loaded WasmController: its compiled watch with a wake
// rule, queue and status, plus, when active, one guest instance. Memory is
// the process's RSS and PSS from /proc/self/smaps_rollup, after a GC that
// returns freed memory to the OS, divided by N. Compiled code is bounded by
// the default --compiled-module-budget (256Mi): suspended distinct modules
// beyond it are unloaded. Distinct modules stop at N=100 unless
// BENCH_DISTINCT_MAX is raised (each compiles once, ~1 s cold; the disk cache
// under _output/bench-cache makes later runs faster). Run with -benchtime=1x.
func BenchmarkGuestMemory(b *testing.B) {
	wasm := guesttest.Build(b, "counter")
	cacheDir, err := filepath.Abs(filepath.Join("..", "..", "_output", "bench-cache"))
	if err != nil {
		b.Fatal(err)
	}
	maxDistinct := 100
	if v, err := strconv.Atoi(os.Getenv("BENCH_DISTINCT_MAX")); err == nil {
		maxDistinct = v
	}
	for _, distinct := range []bool{false, true} {
		for _, n := range []int{10, 100, 1000} {
			kind := "copies"
			if distinct {
				kind = "distinct"
			}
			b.Run(fmt.Sprintf("modules=%s/n=%d", kind, n), func(b *testing.B) {
				if distinct && n > maxDistinct {
					b.Skipf("distinct modules above %d: set BENCH_DISTINCT_MAX", maxDistinct)
				}
				for range b.N {
					suspended, active := guestMemory(b, wasm, cacheDir, n, distinct, !distinct || n <= 100)
					b.ReportMetric(suspended.rss/float64(n), "suspended-RSS-B/guest")
					b.ReportMetric(suspended.pss/float64(n), "suspended-PSS-B/guest")
					if active.rss > 0 {
						b.ReportMetric(active.rss/float64(n), "active-RSS-B/guest")
						b.ReportMetric(active.pss/float64(n), "active-PSS-B/guest")
					}
				}
			})
		}
	}
}

type memUse struct{ rss, pss float64 }

// guestMemory loads n controllers, measures, makes each active, measures
// again, and returns both increments over the process before loading.
func guestMemory(b *testing.B, wasm []byte, cacheDir string, n int, distinct, measureActive bool) (suspended, active memUse) {
	ctx := context.Background()
	rt, err := wasmruntime.New(ctx, wasmruntime.Config{CacheDir: cacheDir, CompiledBudgetBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = rt.Close(ctx) }()
	compiler, err := wakerule.NewCompiler(nil)
	if err != nil {
		b.Fatal(err)
	}
	base := readMemory(b)
	h := newTestServices(testServices{})
	controllers := make([]*controller, 0, n)
	defer func() {
		for _, c := range controllers {
			c.cancel()
			c.pool.suspendIdle()
			c.pool.module.Release(ctx)
		}
	}()
	for i := range n {
		bytes := wasm
		if distinct {
			bytes = guesttest.WithCustomSection(wasm, fmt.Sprintf("bench-%d", i))
		}
		m, err := rt.Load(ctx, bytes)
		if err != nil {
			b.Fatal(err)
		}
		controllers = append(controllers, benchController(b, h, m, compiler, i))
	}
	suspended = readMemory(b).minus(base)
	if !measureActive {
		return suspended, memUse{}
	}
	for _, c := range controllers {
		inst, err := c.pool.resume(c.ctx)
		if err != nil {
			b.Fatal(err)
		}
		c.pool.putIdle(inst)
	}
	return suspended, readMemory(b).minus(base)
}

func benchController(b *testing.B, h *hostServices, m *wasmruntime.Module, compiler *wakerule.Compiler, i int) *controller {
	memory := resource.MustParse("64Mi")
	wc := &v1alpha1.WasmController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprint("c", i), UID: types.UID(fmt.Sprint("uid-", i)), Generation: 1},
		Spec: v1alpha1.WasmControllerSpec{Suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever},
			Limits: v1alpha1.Limits{Memory: &memory, MaxConcurrentReconciles: 1}},
	}
	c := newController(h, wc, m, newStatusWriter(nil, h.clock, wc))
	w, err := compileWatch(0, &v1alpha1.Watch{WakeWhen: "object.data.x != oldObject.data.x"}, configMaps, true, compiler)
	if err != nil {
		b.Fatal(err)
	}
	c.watches = append(c.watches, w)
	return c
}

func (m memUse) minus(o memUse) memUse { return memUse{m.rss - o.rss, m.pss - o.pss} }

// readMemory returns the process's RSS and PSS in bytes, after returning
// what the Go heap freed to the OS.
func readMemory(b *testing.B) memUse {
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		b.Skipf("no /proc/self/smaps_rollup: %v", err)
	}
	defer f.Close()
	var m memUse
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "Rss":
			m.rss = kb * 1024
		case "Pss":
			m.pss = kb * 1024
		}
	}
	return m
}
