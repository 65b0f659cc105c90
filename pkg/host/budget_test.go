package host

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// TestHost_ReportsCompiledModuleOverBudget: a controller whose module's
// compiled code is over the server's budget says so in a condition and a
// Warning Event; one within the budget carries no such condition, even if
// an earlier load left one.
func TestHost_ReportsCompiledModuleOverBudget(t *testing.T) {
	wasm := guesttest.Build(t, "counter")
	stale := metav1.Condition{Type: ConditionCompiledModuleOverBudget, Status: metav1.ConditionTrue,
		Reason: ReasonCompiledModuleOverBudget, Message: "from an earlier load", LastTransitionTime: metav1.Now()}
	tests := []struct {
		name      string
		budget    int64
		before    []metav1.Condition
		wantOver  bool
		wantEvent bool
	}{
		{name: "over the budget", budget: 1 << 20, wantOver: true, wantEvent: true},
		{name: "within the budget", budget: 1 << 30},
		{name: "within the budget after a load over it", budget: 1 << 30, before: []metav1.Condition{stale}},
		{name: "no budget", budget: 0, before: []metav1.Condition{stale}},
	}
	cacheDir := t.TempDir() // compiled once for every case
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := wasmruntime.New(t.Context(), wasmruntime.Config{CacheDir: cacheDir, CompiledBudgetBytes: tt.budget})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rt.Close(context.Background()) }()
			module, err := rt.Load(t.Context(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			defer module.Release(context.Background())
			wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 2},
				Status: v1alpha1.WasmControllerStatus{Conditions: tt.before}}
			client := fake.NewSimpleClientset(wc)
			recorder := record.NewFakeRecorder(10)
			h := newTestHost(Config{Runtime: rt, Controllers: client}, testServices{recorder: recorder})
			status := newStatusWriter(client, clock.RealClock{}, wc)

			h.reportCompiledBudget(status, wc, module)
			status.flush(t.Context())

			got, err := client.ControllersV1alpha1().WasmControllers("ns").Get(t.Context(), "c", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, ConditionCompiledModuleOverBudget)
			switch {
			case tt.wantOver && (cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != ReasonCompiledModuleOverBudget ||
				cond.ObservedGeneration != 2 || !strings.Contains(cond.Message, "--compiled-module-budget")):
				t.Errorf("condition = %+v, want True, reason %s, generation 2, saying what to do", cond, ReasonCompiledModuleOverBudget)
			case !tt.wantOver && cond != nil:
				t.Errorf("condition = %+v, want none", cond)
			}
			select {
			case e := <-recorder.Events:
				if !tt.wantEvent || !strings.HasPrefix(e, "Warning "+ReasonCompiledModuleOverBudget+" ") {
					t.Errorf("Event %q, want a Warning %s: %v", e, ReasonCompiledModuleOverBudget, tt.wantEvent)
				}
			default:
				if tt.wantEvent {
					t.Error("no Event recorded")
				}
			}
		})
	}
}
