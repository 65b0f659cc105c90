package host

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
)

// startTimers runs a timer queue on a fake clock; fired receives the name
// of each timer as it fires.
func startTimers(t *testing.T) (*timerQueue, *clocktesting.FakeClock, chan string) {
	t.Helper()
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := newTimerQueue(clock)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); q.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return q, clock, make(chan string, 100)
}

// firedBy returns the timers that fired once the queue is asleep again
// after the clock moved by d.
func firedBy(t *testing.T, clock *clocktesting.FakeClock, q *timerQueue, fired chan string, d time.Duration) []string {
	t.Helper()
	clock.Step(d)
	// Fires run before the queue sleeps again, so once it waits on the
	// clock (or nothing is pending) and none popped is still firing, every
	// due timer has fired.
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		q.mu.Lock()
		due := q.heap.Len() > 0 && !q.heap[0].at.After(clock.Now())
		firing := q.firing
		q.mu.Unlock()
		return !due && firing == 0 && (q.len() == 0 || clock.HasWaiters()), nil
	})
	if err != nil {
		t.Fatalf("timer queue did not settle: %v", err)
	}
	var got []string
	for {
		select {
		case name := <-fired:
			got = append(got, name)
		default:
			return got
		}
	}
}

func TestTimerQueue_FiresInOrderWhenDue(t *testing.T) {
	q, clock, fired := startTimers(t)
	a, b := new(int), new(int)
	now := clock.Now()
	schedule := func(owner any, kind timerKind, key string, after time.Duration, name string) {
		q.schedule(timerID{owner: owner, kind: kind, key: wakeKey{Name: key}}, now.Add(after), func() { fired <- name })
	}
	schedule(a, timerWake, "x", 3*time.Second, "a/x")
	schedule(a, timerResync, "", time.Second, "a/resync")
	schedule(b, timerWake, "x", 2*time.Second, "b/x")
	schedule(b, timerWake, "y", 2*time.Second, "b/y")

	if next, _ := q.next(a); !next.Equal(now.Add(time.Second)) {
		t.Errorf("next(a) = %v, want %v", next, now.Add(time.Second))
	}
	steps := []struct {
		step time.Duration
		want []string
	}{
		{step: 999 * time.Millisecond, want: nil},
		{step: time.Millisecond, want: []string{"a/resync"}},
		{step: time.Second, want: []string{"b/x", "b/y"}},
		{step: 10 * time.Second, want: []string{"a/x"}},
	}
	for i, s := range steps {
		got := firedBy(t, clock, q, fired, s.step)
		// Timers due at the same time fire in either order.
		if diff := cmp.Diff(s.want, got, cmpSorted); diff != "" {
			t.Errorf("step %d: fired (-want +got):\n%s", i, diff)
		}
	}
	if _, ok := q.next(a); ok {
		t.Error("next(a) reports a timer after all fired")
	}
}

func TestTimerQueue_SameIDKeepsEarliest(t *testing.T) {
	q, clock, fired := startTimers(t)
	owner, now := new(int), clock.Now()
	id := timerID{owner: owner, kind: timerWake, key: wakeKey{Name: "k"}}
	q.schedule(id, now.Add(5*time.Second), func() { fired <- "first" })
	q.schedule(id, now.Add(2*time.Second), func() { fired <- "earlier" })
	q.schedule(id, now.Add(9*time.Second), func() { fired <- "later" })
	if n := q.len(); n != 1 {
		t.Fatalf("len = %d, want 1 timer per ID", n)
	}
	if got := firedBy(t, clock, q, fired, 10*time.Second); !cmp.Equal(got, []string{"earlier"}) {
		t.Errorf("fired %v, want [earlier]", got)
	}
}

func TestTimerQueue_Cancel(t *testing.T) {
	q, clock, fired := startTimers(t)
	gone, kept, now := new(int), new(int), clock.Now()
	q.schedule(timerID{owner: gone, kind: timerResync}, now.Add(time.Second), func() { fired <- "gone" })
	q.schedule(timerID{owner: gone, kind: timerWake, key: wakeKey{Name: "k"}}, now.Add(time.Second), func() { fired <- "gone/k" })
	q.schedule(timerID{owner: kept, kind: timerResync}, now.Add(time.Second), func() { fired <- "kept" })
	q.cancel(gone)
	if _, ok := q.next(gone); ok {
		t.Error("next(gone) reports a timer after cancel")
	}
	if got := firedBy(t, clock, q, fired, time.Second); !cmp.Equal(got, []string{"kept"}) {
		t.Errorf("fired %v, want [kept]", got)
	}
}

// TestTimerQueue_Rearm is how a resync keeps itself going: its fire
// function schedules the next one.
func TestTimerQueue_Rearm(t *testing.T) {
	q, clock, fired := startTimers(t)
	owner := new(int)
	var arm func()
	arm = func() {
		q.schedule(timerID{owner: owner, kind: timerResync}, clock.Now().Add(time.Minute), func() {
			fired <- "resync"
			arm()
		})
	}
	arm()
	for i := range 3 {
		if got := firedBy(t, clock, q, fired, time.Minute); len(got) != 1 {
			t.Fatalf("minute %d: fired %v, want one resync", i+1, got)
		}
	}
	if q.len() != 1 {
		t.Errorf("len = %d, want the next resync pending", q.len())
	}
}

var cmpSorted = cmp.Transformer("sorted", func(in []string) []string {
	return slices.Sorted(slices.Values(in))
})
