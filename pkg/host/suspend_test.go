package host

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

func TestPredictor_BreakEven(t *testing.T) {
	tests := []struct {
		resume []time.Duration
		want   time.Duration
	}{
		{resume: nil, want: minBreakEven},
		{resume: []time.Duration{3 * time.Millisecond}, want: 3 * time.Second},
		{resume: []time.Duration{35 * time.Millisecond}, want: 35 * time.Second},
		{resume: []time.Duration{time.Second}, want: maxBreakEven},
		// The newest resume weighs 30%.
		{resume: []time.Duration{2 * time.Millisecond, 12 * time.Millisecond}, want: 5 * time.Second},
	}
	for _, tt := range tests {
		var p predictor
		for _, d := range tt.resume {
			p.resumed(d)
		}
		if got := p.breakEven(); got != tt.want {
			t.Errorf("resumes %v: breakEven = %v, want %v", tt.resume, got, tt.want)
		}
	}
}

func TestSuspendPolicy_AfterReconcile(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		suspend   v1alpha1.SuspendSpec
		wakeEvery time.Duration // history of wakes at this interval; 0: none
		timerIn   time.Duration // a requeue pending this far ahead; 0: none
		resume    time.Duration
		wantWarm  bool
		wantUntil time.Duration // from now; 0: no later look
	}{
		{name: "Never", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendNever}, wantWarm: true},
		{name: "Immediate", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendImmediate}},
		{name: "Idle", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendIdle, IdleAfter: &metav1.Duration{Duration: 7 * time.Second}},
			wantWarm: true, wantUntil: 7 * time.Second},
		{name: "Predictive without history", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			resume: 3 * time.Millisecond},
		{name: "Predictive, wakes every 2s, resume 3ms: warm", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			wakeEvery: 2 * time.Second, resume: 3 * time.Millisecond, wantWarm: true, wantUntil: 5 * time.Second},
		{name: "Predictive, wakes every minute, resume 3ms: suspend", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			wakeEvery: time.Minute, resume: 3 * time.Millisecond},
		{name: "Predictive, wakes every minute, resume 100ms: warm", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			wakeEvery: time.Minute, resume: 100 * time.Millisecond, wantWarm: true, wantUntil: time.Minute + 100*time.Second},
		{name: "Predictive, requeue due in 1s: warm", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			timerIn: time.Second, resume: 3 * time.Millisecond, wantWarm: true, wantUntil: 4 * time.Second},
		{name: "Predictive, requeue due in 1h: suspend", suspend: v1alpha1.SuspendSpec{Policy: v1alpha1.SuspendPredictive},
			timerIn: time.Hour, resume: 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(start)
			h := newTestServices(testServices{clock: clock})
			c := testController(t, h, "c")
			c.wc.Spec.Suspend = tt.suspend
			c.pool.policy = newSuspendPolicy(tt.suspend, func() (time.Time, bool) { return h.timers.next(c) })
			if tt.resume > 0 {
				c.pool.policy.resumed(tt.resume)
			}
			if tt.wakeEvery > 0 {
				for i := range 5 {
					c.pool.policy.woke(start.Add(-time.Duration(4-i) * tt.wakeEvery))
				}
			}
			if tt.timerIn > 0 {
				c.wakeAfter(wakeKey{"ns", "k"}, tt.timerIn, "requeue")
			}
			warm, until := c.pool.policy.afterReconcile(start)
			var gotUntil time.Duration
			if !until.IsZero() {
				gotUntil = until.Sub(start)
			}
			if warm != tt.wantWarm || gotUntil != tt.wantUntil {
				t.Errorf("afterReconcile = %v until +%v, want %v until +%v", warm, gotUntil, tt.wantWarm, tt.wantUntil)
			}
		})
	}
}
