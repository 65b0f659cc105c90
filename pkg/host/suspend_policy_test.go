package host

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/openapi"
)

func noTimer() (time.Time, bool) { return time.Time{}, false }

// TestSuspendPolicyFor_EveryAPIValue: every value the API lists for
// spec.suspend.policy (its OpenAPI enum, generated from the constants) has
// a policy, so a value added to the API without one fails here instead of
// running as Idle.
func TestSuspendPolicyFor_EveryAPIValue(t *testing.T) {
	defs := openapi.GetOpenAPIDefinitions(func(path string) spec.Ref { return spec.MustCreateRef(path) })
	name := v1alpha1.SuspendSpec{}.OpenAPIModelName()
	def, ok := defs[name]
	if !ok {
		t.Fatalf("no OpenAPI definition of %s", name)
	}
	values := def.Schema.Properties["policy"].Enum
	if len(values) == 0 {
		t.Fatal("the OpenAPI definition of spec.suspend.policy lists no values")
	}
	for _, v := range values {
		policy := v1alpha1.SuspendPolicy(fmt.Sprint(v))
		if _, ok := suspendPolicyFor(v1alpha1.SuspendSpec{Policy: policy}, noTimer); !ok {
			t.Errorf("spec.suspend.policy %q has no suspendPolicy: add one in its own file and map it in suspendPolicyFor", policy)
		}
	}
}

func TestSuspendPolicyFor(t *testing.T) {
	idleAfter := &metav1.Duration{Duration: 7 * time.Second}
	tests := []struct {
		name   string
		spec   v1alpha1.SuspendSpec
		want   suspendPolicy
		wantOK bool
	}{
		{name: "Never", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever}, want: neverSuspend{}, wantOK: true},
		{name: "Immediate", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate}, want: immediateSuspend{}, wantOK: true},
		{name: "Idle", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle, IdleAfter: idleAfter},
			want: idleSuspend{idleAfter: 7 * time.Second}, wantOK: true},
		{name: "Idle without idleAfter", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle},
			want: idleSuspend{idleAfter: v1alpha1.DefaultIdleAfter}, wantOK: true},
		{name: "unset is Idle", spec: v1alpha1.SuspendSpec{}, want: idleSuspend{idleAfter: v1alpha1.DefaultIdleAfter}, wantOK: true},
		{name: "Predictive", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive}, want: &predictiveSuspend{}, wantOK: true},
		{name: "unknown", spec: v1alpha1.SuspendSpec{Policy: "Sometimes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := suspendPolicyFor(tt.spec, noTimer)
			if ok != tt.wantOK || reflect.TypeOf(got) != reflect.TypeOf(tt.want) {
				t.Fatalf("suspendPolicyFor = %T, %v; want %T, %v", got, ok, tt.want, tt.wantOK)
			}
			if want, ok := tt.want.(idleSuspend); ok && got.(idleSuspend) != want {
				t.Errorf("suspendPolicyFor = %+v, want %+v", got, want)
			}
		})
	}
}

// TestNewSuspendPolicy_UnknownIsIdle: a policy this server does not know,
// stored by a newer one, is served as the default.
func TestNewSuspendPolicy_UnknownIsIdle(t *testing.T) {
	got := newSuspendPolicy(v1alpha1.SuspendSpec{Policy: "Sometimes"}, noTimer)
	if want := (idleSuspend{idleAfter: v1alpha1.DefaultIdleAfter}); got != want {
		t.Errorf("newSuspendPolicy = %#v, want %#v", got, want)
	}
}

// TestSuspendPolicy_IdleUntil: what each policy does when its idle
// instances are looked at.
func TestSuspendPolicy_IdleUntil(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	timerIn := func(d time.Duration) func() (time.Time, bool) {
		return func() (time.Time, bool) { return now.Add(d), true }
	}
	tests := []struct {
		name      string
		spec      v1alpha1.SuspendSpec
		nextTimer func() (time.Time, bool)
		idleFor   time.Duration // since the last reconcile
		want      time.Duration // from now; 0: at once; -1: never
	}{
		{name: "Never keeps it", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever}, want: -1},
		{name: "Immediate suspends", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate}},
		{name: "Idle, not yet", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle}, idleFor: 10 * time.Second,
			want: v1alpha1.DefaultIdleAfter - 10*time.Second},
		{name: "Idle, long enough", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle}, idleFor: v1alpha1.DefaultIdleAfter},
		{name: "Predictive, no timer", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive}},
		{name: "Predictive, timer within break-even", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			nextTimer: timerIn(500 * time.Millisecond), want: 500*time.Millisecond + minBreakEven},
		{name: "Predictive, timer past break-even", spec: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			nextTimer: timerIn(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := tt.nextTimer
			if next == nil {
				next = noTimer
			}
			until := newSuspendPolicy(tt.spec, next).idleUntil(now, now.Add(-tt.idleFor))
			var got time.Duration
			switch {
			case until.IsZero():
				got = -1
			case until.After(now):
				got = until.Sub(now)
			}
			if got != tt.want {
				t.Errorf("idleUntil = %v from now, want %v (-1: never, 0: at once)", got, tt.want)
			}
		})
	}
}
