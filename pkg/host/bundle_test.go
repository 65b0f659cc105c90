package host

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// recordingAPI answers every guest request with an empty ConfigMap and
// records the paths asked.
type recordingAPI struct {
	mu    sync.Mutex
	paths []string
}

func (a *recordingAPI) ServeAPI(_ context.Context, req *wasmruntime.APIRequest) *wasmruntime.APIResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.paths = append(a.paths, req.Path)
	return &wasmruntime.APIResponse{Status: http.StatusOK, Body: json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`)}
}

func (a *recordingAPI) asked() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.paths...)
}

// TestController_BundleSharesOneModule: controllers selecting different
// reconcilers of one bundle share one compiled module, as the controllers of
// kube-controller-manager share one binary, and each runs its own
// reconciler; with snapshots, each resumes its own guest.
func TestController_BundleSharesOneModule(t *testing.T) {
	wasm := guesttest.Build(t, "bundle")
	rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	h, _ := snapshotServices(t)
	memory := resource.MustParse("64Mi")
	reconcilers := []string{"configmaps", "secrets", "configmaps", "secrets"}
	var first *wasmruntime.Module
	var oneModule int64
	var apis []*recordingAPI
	var controllers []*controller
	for i, name := range reconcilers {
		m, err := rt.Load(t.Context(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Release(context.Background()) })
		if first == nil {
			first, oneModule = m, rt.CompiledBytes()
		} else if m != first {
			t.Errorf("controller %d compiled a module of its own", i)
		}
		wc := &v1alpha1.WasmController{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name + "-" + itoa(i), UID: types.UID("uid-" + itoa(i)), Generation: 1},
			Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{Reconciler: name},
				Suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate, Snapshot: true},
				Limits:  v1alpha1.Limits{Memory: &memory, ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: 1}},
		}
		c := newController(h, wc, m, newStatusWriter(fake.NewSimpleClientset(wc), h.clock, wc))
		t.Cleanup(c.cancel)
		api := &recordingAPI{}
		c.pool.cfg.API = api
		controllers, apis = append(controllers, c), append(apis, api)
	}
	if n := rt.LoadedModules(); n != 1 {
		t.Errorf("LoadedModules = %d, want the bundle once for %d controllers", n, len(reconcilers))
	}
	if got := rt.CompiledBytes(); got != oneModule || got == 0 {
		t.Errorf("CompiledBytes = %d, want one module's %d", got, oneModule)
	}
	// Twice each: the second reconcile resumes each guest from its own
	// snapshot, which must be of its own reconciler.
	for round := range 2 {
		for i, c := range controllers {
			if _, err := c.reconcile(c.ctx, wakeKey{"ns", "k" + itoa(round)}, "event"); err != nil {
				t.Fatalf("controller %d, round %d: %v", i, round, err)
			}
		}
	}
	for i, api := range apis {
		want := []string{"/api/v1/namespaces/ns/" + reconcilers[i] + "/k0", "/api/v1/namespaces/ns/" + reconcilers[i] + "/k1"}
		if got := api.asked(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("controller %d (%s) asked %v, want %v", i, reconcilers[i], got, want)
		}
	}
}

// TestHost_StartReportsUnknownReconciler: a reconciler the module does not
// hold fails the load with the ModuleLoaded condition's reason
// ReconcilerNotFound, the guest's own list of what it holds, and an Event;
// the failure waits for a change of the spec instead of being retried.
func TestHost_StartReportsUnknownReconciler(t *testing.T) {
	tests := []struct {
		name       string
		guest      string
		reconciler string
		wantMsg    string
	}{
		{name: "unknown name", guest: "bundle", reconciler: "pods",
			wantMsg: `spec.module.reconciler: the module cannot run reconciler "pods": the module has no reconciler named "pods"; it has: configmaps, secrets`},
		{name: "bundle without a default", guest: "bundle",
			wantMsg: "spec.module.reconciler: the module cannot run the default reconciler: the module has no default reconciler; select one of its reconcilers (configmaps, secrets) with spec.module.reconciler"},
		{name: "single-reconciler module", guest: "echo", reconciler: "configmaps",
			wantMsg: `spec.module.reconciler: the module cannot run reconciler "configmaps": the module has no reconciler named "configmaps"; it has: the default (spec.module.reconciler left empty)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memory := resource.MustParse("64Mi")
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 1},
				Spec: v1alpha1.WasmControllerSpec{
					Module: v1alpha1.ModuleSource{Inline: guesttest.Build(t, tt.guest), Reconciler: tt.reconciler},
					Limits: v1alpha1.Limits{Memory: &memory, ReconcileTimeout: &metav1.Duration{Duration: 30 * time.Second}, MaxConcurrentReconciles: 1},
				}}
			h, _, client, recorder := newLoadingHost(t, wc, 64<<20)

			c, err := h.start(t.Context(), wc)
			if c != nil || err == nil {
				t.Fatalf("start = %v, %v; want a failure", c, err)
			}
			if !isPermanent(err) {
				t.Errorf("isPermanent(%v) = false: an unknown reconciler would be loaded again and again", err)
			}
			got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionModuleLoaded)
			if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != ReasonReconcilerNotFound || cond.Message != tt.wantMsg {
				t.Errorf("ModuleLoaded condition = %+v, want False, %s, %q", cond, ReasonReconcilerNotFound, tt.wantMsg)
			}
			if got.Status.Phase != v1alpha1.PhaseFailed || got.Status.LastError != tt.wantMsg {
				t.Errorf("phase %s, lastError %q; want Failed and the condition's message", got.Status.Phase, got.Status.LastError)
			}
			if e := <-recorder.Events; !strings.HasPrefix(e, "Warning "+ReasonReconcilerNotFound+" ") {
				t.Errorf("Event %q, want a Warning with reason %s", e, ReasonReconcilerNotFound)
			}
		})
	}
}
