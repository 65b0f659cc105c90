package host

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestReclaimer_Run(t *testing.T) {
	tests := []struct {
		name          string
		idle          bool
		objects, live uint64
		wantCollect   bool
	}{
		{name: "quiet with garbage", idle: true, objects: 60 << 20, live: 30 << 20, wantCollect: true},
		{name: "busy again", idle: false, objects: 60 << 20, live: 30 << 20},
		{name: "little garbage", idle: true, objects: 32 << 20, live: 30 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			var collected, checked atomic.Int32
			r := newReclaimer(clock, func() { collected.Add(1) })
			r.heap = func() (uint64, uint64) { return tt.objects, tt.live }
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() {
				defer close(done)
				r.run(ctx, func() bool { checked.Add(1); return tt.idle })
			}()
			r.notifyQuiet()
			waitForTimer(t, clock)
			clock.Step(quietPeriod - time.Millisecond)
			if checked.Load() != 0 {
				t.Fatal("looked at the host before it was quiet for quietPeriod")
			}
			clock.Step(time.Millisecond)
			poll(t, func() bool { return checked.Load() == 1 })
			cancel()
			<-done
			if got := collected.Load() == 1; got != tt.wantCollect {
				t.Errorf("collected = %v, want %v", got, tt.wantCollect)
			}
		})
	}
}

func waitForTimer(t *testing.T, clock *clocktesting.FakeClock) {
	t.Helper()
	poll(t, clock.HasWaiters)
}

func poll(t *testing.T, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatal(err)
	}
}

// TestReclaimer_WithoutCollect: a host not given a collection to run
// collects nothing and keeps no goroutine for it.
func TestReclaimer_WithoutCollect(t *testing.T) {
	r := newReclaimer(clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), nil)
	r.notifyQuiet()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(t.Context(), func() bool { return true })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the reclaimer runs without a collection to make")
	}
}
