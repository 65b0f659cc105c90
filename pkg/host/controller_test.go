package host

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/fake"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// TestController_ReportGuestHealth: Ready turns False at the first trap,
// timeout or memory overrun, and after failingAfter failed reconciles in a
// row of any kind, with the last error; True again after a success.
func TestController_ReportGuestHealth(t *testing.T) {
	wc := &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Generation: 2}}
	c := &controller{wc: wc, status: newStatusWriter(fake.NewSimpleClientset(wc), clock.RealClock{}, wc)}
	ready := func() *metav1.Condition {
		c.status.mu.Lock()
		defer c.status.mu.Unlock()
		return meta.FindStatusCondition(c.status.status.Conditions, v1alpha1.ConditionReady)
	}
	conflict := &wasmruntime.GuestError{Message: "conflict"}
	steps := []struct {
		err        error
		wantStatus metav1.ConditionStatus // "" : no condition written yet
		wantReason string
		wantInMsg  string
	}{
		{err: conflict},
		{err: fmt.Errorf("%w while reconciling: unreachable", wasmruntime.ErrTrap), wantStatus: metav1.ConditionFalse, wantReason: "GuestTrapped"},
		{err: fmt.Errorf("%w (limit 1)", wasmruntime.ErrMemoryLimit), wantStatus: metav1.ConditionFalse, wantReason: "MemoryLimitExceeded"},
		{err: nil, wantStatus: metav1.ConditionTrue, wantReason: "Running"},
		{err: fmt.Errorf("%w while reconciling", wasmruntime.ErrTimeout), wantStatus: metav1.ConditionFalse, wantReason: "ReconcileTimeout"},
		{err: nil, wantStatus: metav1.ConditionTrue, wantReason: "Running"},
		{err: conflict, wantStatus: metav1.ConditionTrue, wantReason: "Running"},
		{err: conflict, wantStatus: metav1.ConditionTrue, wantReason: "Running"},
		{err: &wasmruntime.GuestError{Message: "still failing"}, wantStatus: metav1.ConditionFalse, wantReason: "ReconcileFailing",
			wantInMsg: "3 reconciles failed in a row; last: still failing"},
		{err: conflict, wantStatus: metav1.ConditionFalse, wantReason: "ReconcileFailing", wantInMsg: "4 reconciles failed in a row; last: conflict"},
		{err: nil, wantStatus: metav1.ConditionTrue, wantReason: "Running"},
	}
	var failures int64
	for i, s := range steps {
		failures++
		if s.err == nil {
			failures = 0
		}
		c.reportGuestHealth(s.err, wakeKey{"ns", "obj"}, failures)
		got := ready()
		switch {
		case s.wantStatus == "" && got != nil:
			t.Errorf("step %d (%v): Ready written: %+v", i, s.err, got)
		case s.wantStatus != "" && (got == nil || got.Status != s.wantStatus || got.Reason != s.wantReason || got.ObservedGeneration != 2):
			t.Errorf("step %d (%v): Ready = %+v, want %s/%s at generation 2", i, s.err, got, s.wantStatus, s.wantReason)
		case s.wantInMsg != "" && !strings.Contains(got.Message, s.wantInMsg):
			t.Errorf("step %d (%v): Ready message %q, want it to hold %q", i, s.err, got.Message, s.wantInMsg)
		}
	}
}

func TestEnqueueOnSpecChange(t *testing.T) {
	wc := func(generation int64, phase v1alpha1.Phase) *v1alpha1.WasmController {
		return &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Generation: generation}, Status: v1alpha1.WasmControllerStatus{Phase: phase}}
	}
	tests := []struct {
		name     string
		old, new *v1alpha1.WasmController
		want     bool
	}{
		{name: "status written by the host", old: wc(1, v1alpha1.PhaseLoading), new: wc(1, v1alpha1.PhaseFailed)},
		{name: "spec changed", old: wc(1, v1alpha1.PhaseFailed), new: wc(2, v1alpha1.PhaseFailed), want: true},
	}
	for _, tt := range tests {
		got := false
		enqueueOnSpecChange(tt.old, tt.new, func(any) { got = true })
		if got != tt.want {
			t.Errorf("%s: enqueued = %v, want %v", tt.name, got, tt.want)
		}
	}
}
