package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// bigMemoryModule is the smallest module of the ABI whose memory starts at
// 2,000 pages (125 MiB): an export of memory, the ABI marker and a
// reconcile that returns 0.
func bigMemoryModule() []byte {
	section := func(id byte, body ...byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, 2, 0x60, 0, 0, 0x60, 1, 0x7f, 1, 0x7f)...) // () -> (), (i32) -> i32
	m = append(m, section(3, 2, 0, 1)...)                               // two functions of those types
	m = append(m, section(5, 1, 0, 0xd0, 0x0f)...)                      // one memory, min 2000 pages
	exports := []byte{3}
	exports = append(append(exports, name("memory")...), 2, 0)
	exports = append(append(exports, name("wasm_apiserver_abi_v1")...), 0, 0)
	exports = append(append(exports, name("reconcile")...), 0, 1)
	m = append(m, section(7, exports...)...)
	m = append(m, section(10, 2, 2, 0, 0x0b, 4, 0, 0x41, 0, 0x0b)...)
	return m
}

// TestHost_StartChecksLimits: a controller whose limits exceed the
// administrator's ceilings, or whose module needs more memory to start than
// its limit, is Failed with the numbers and not retried, and subscribes to
// nothing.
func TestHost_StartChecksLimits(t *testing.T) {
	tests := []struct {
		name          string
		memory        string
		timeout       time.Duration
		ceilings      validation.Ceilings
		wantCondition string
		wantReason    string
		wantMsg       string
	}{
		{name: "memory over the ceiling", memory: "1Gi", timeout: 10 * time.Second,
			ceilings:      validation.Ceilings{MemoryBytes: 128 << 20},
			wantCondition: v1alpha1.ConditionReady, wantReason: ReasonOverCeiling,
			wantMsg: "spec.limits.memory: Forbidden: 1Gi exceeds the server's ceiling of 128Mi (--max-controller-memory)"},
		{name: "timeout over the ceiling", memory: "64Mi", timeout: time.Hour,
			ceilings:      validation.Ceilings{ReconcileTimeout: 5 * time.Minute},
			wantCondition: v1alpha1.ConditionReady, wantReason: ReasonOverCeiling,
			wantMsg: "spec.limits.reconcileTimeout: Forbidden: 1h0m0s exceeds the server's ceiling of 5m0s (--max-reconcile-timeout)"},
		{name: "module needs more memory than its limit", memory: "64Mi", timeout: 10 * time.Second,
			ceilings:      validation.Ceilings{MemoryBytes: 128 << 20},
			wantCondition: v1alpha1.ConditionModuleLoaded, wantReason: ReasonMemoryLimitTooLow,
			wantMsg: "needs 131072000 bytes of memory (2000 pages of 64 KiB) to start, over the memory limit of 67108864 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memory := resource.MustParse(tt.memory)
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "c", Generation: 1},
				Spec: v1alpha1.WasmControllerSpec{ServiceAccountName: "ctl", Module: v1alpha1.ModuleSource{Inline: bigMemoryModule()},
					Limits: v1alpha1.Limits{Memory: &memory, ReconcileTimeout: &metav1.Duration{Duration: tt.timeout}, MaxConcurrentReconciles: 1}}}
			h, client, _, pool := accessTestHost(t, &fakeRBAC{allowed: map[string]bool{}}, wc)
			h.cfg.Ceilings = tt.ceilings
			rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rt.Close(t.Context()) })
			h.cfg.Runtime = rt

			c, err := h.start(t.Context(), wc)
			if c != nil || err == nil || !isPermanent(err) {
				t.Fatalf("start = %v, %v; want a permanent failure", c, err)
			}
			if n := pool.Len(); n != 0 {
				t.Errorf("%d informers subscribed, want none", n)
			}
			got, err := client.ControllersV1alpha1().WasmControllers("tenant").Get(t.Context(), "c", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != v1alpha1.PhaseFailed {
				t.Errorf("phase %q, want Failed", got.Status.Phase)
			}
			for _, typ := range []string{tt.wantCondition, v1alpha1.ConditionReady} {
				cond := meta.FindStatusCondition(got.Status.Conditions, typ)
				if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != tt.wantReason || !strings.Contains(cond.Message, tt.wantMsg) {
					t.Errorf("%s = %+v, want False %s saying %q", typ, cond, tt.wantReason, tt.wantMsg)
				}
			}
		})
	}
}

// TestHost_StartReportsStorageFailures: when the server's own storage
// fails a load, the module is not called invalid: the reason says it is
// the server's, the load is retried, and it succeeds once the storage
// mends.
func TestHost_StartReportsStorageFailures(t *testing.T) {
	cacheDir := t.TempDir()
	h, client, _, wc := inlineTestHost(t, cacheDir)
	// A file where the runtime keeps module bytes: every write there fails,
	// as on a full disk, and does so even for root.
	kept := filepath.Join(cacheDir, "modules")
	if err := os.RemoveAll(kept); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := h.start(t.Context(), wc)
	if c != nil || err == nil || isPermanent(err) {
		t.Fatalf("start = %v, %v; want a failure that is retried", c, err)
	}
	got, err := client.ControllersV1alpha1().WasmControllers("tenant").Get(t.Context(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionModuleLoaded); cond == nil ||
		cond.Reason != ReasonStorageFailed || strings.Contains(cond.Message, cacheDir) {
		t.Errorf("ModuleLoaded = %+v, want reason %s, without the server's paths", cond, ReasonStorageFailed)
	}

	if err := os.Remove(kept); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(kept, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err = h.start(t.Context(), wc)
	if err != nil {
		t.Fatalf("start once the storage mended: %v", err)
	}
	c.stop()
}

// inlineTestHost is a host of accessTestHost with a runtime whose cache is
// cacheDir, and the WasmController tenant/c of bigMemoryModule, inline,
// which it can start.
func inlineTestHost(t *testing.T, cacheDir string) (*Host, *fake.Clientset, *record.FakeRecorder, *v1alpha1.WasmController) {
	t.Helper()
	memory := resource.MustParse("128Mi")
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "c", Generation: 1},
		Spec: v1alpha1.WasmControllerSpec{ServiceAccountName: "ctl", Module: v1alpha1.ModuleSource{Inline: bigMemoryModule()},
			Limits: v1alpha1.Limits{Memory: &memory, ReconcileTimeout: &metav1.Duration{Duration: time.Second}, MaxConcurrentReconciles: 1}}}
	h, client, recorder, _ := accessTestHost(t, &fakeRBAC{allowed: map[string]bool{}}, wc)
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	h.cfg.Runtime = rt
	return h, client, recorder, wc
}
