package host

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
)

// schedulerRig runs a scheduler whose reconciles are recorded instead of
// run in a guest; a reconcile blocks until release is closed, or returns at
// once when release is nil. The host's clock is fake: it moves only by
// step at each reconcile.
type schedulerRig struct {
	env     *hostServices
	clock   *clocktesting.FakeClock
	mu      sync.Mutex
	order   []string       // "controller/key" in the order they started
	turns   []string       // "controller:keys" in the order they ended
	running map[string]int // per controller, now
	peak    map[string]int // per controller, highest seen
	total   int
	peakAll int
	release chan struct{}
	step    time.Duration
}

func newSchedulerRig(t *testing.T, workers int, release chan struct{}) *schedulerRig {
	clock := clocktesting.NewFakeClock(time.Unix(1700000000, 0))
	r := &schedulerRig{env: newTestServices(testServices{workers: workers, clock: clock}), clock: clock,
		running: map[string]int{}, peak: map[string]int{}, release: release}
	r.env.scheduler.reconcile = func(c *controller, _ *turn, key wakeKey) {
		r.mu.Lock()
		r.order = append(r.order, c.name+"/"+key.Name)
		r.running[c.name]++
		r.peak[c.name] = max(r.peak[c.name], r.running[c.name])
		r.total++
		r.peakAll = max(r.peakAll, r.total)
		r.mu.Unlock()
		if r.release != nil {
			<-r.release
		}
		r.clock.Step(r.step)
		r.mu.Lock()
		r.running[c.name]--
		r.total--
		r.mu.Unlock()
	}
	r.env.scheduler.endTurn = func(c *controller, t *turn) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.turns = append(r.turns, fmt.Sprintf("%s:%d", c.name, t.keys))
	}
	return r
}

func (r *schedulerRig) controller(name string, limit int) *controller {
	q := newWakeQueue(limit)
	q.sched.held = false // started
	return &controller{env: r.env, name: name, queue: q}
}

func (r *schedulerRig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.env.scheduler.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitIdle waits until every queue is empty and nothing runs.
func (r *schedulerRig) waitIdle(t *testing.T, cs ...*controller) {
	t.Helper()
	// The scheduler takes a key and counts it running under one lock, so
	// there is no moment when a key is neither queued nor running.
	s := r.env.scheduler
	waitFor(t, "the scheduler to run every key", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range cs {
			if c.queue.len() > 0 || c.queue.sched.running > 0 {
				return false
			}
		}
		return true
	})
}

// TestScheduler_Fairness: a controller with a long queue does not delay
// another's single key by more than one turn, which ends at maxTurnKeys
// keys or once maxTurnTime has passed, whichever comes first.
func TestScheduler_Fairness(t *testing.T) {
	tests := []struct {
		name     string
		step     time.Duration // each reconcile's time
		wantTurn int           // busy's keys before quiet's
	}{
		{name: "bound by keys", wantTurn: maxTurnKeys},
		{name: "bound by time", step: maxTurnTime / 2, wantTurn: 2},
		{name: "a reconcile longer than the bound", step: 2 * maxTurnTime, wantTurn: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newSchedulerRig(t, 1, nil)
			r.step = tt.step
			busy, quiet := r.controller("busy", 1), r.controller("quiet", 1)
			for i := range 100 {
				busy.enqueue(wakeKey{Name: fmt.Sprint(i)}, "event")
			}
			quiet.enqueue(wakeKey{Name: "only"}, "event")
			r.run(t)
			r.waitIdle(t, busy, quiet)
			if len(r.order) != 101 {
				t.Fatalf("ran %d keys, want 101", len(r.order))
			}
			for i, k := range r.order {
				if k == "quiet/only" {
					if i != tt.wantTurn {
						t.Errorf("quiet's key ran after %d of busy's, want after one turn of %d", i, tt.wantTurn)
					}
					return
				}
			}
			t.Fatalf("quiet's key never ran: %v", r.order)
		})
	}
}

// TestScheduler_Turns: a worker runs a controller's queued keys one after
// another in one turn, then the next controller's, and ends each turn
// once.
func TestScheduler_Turns(t *testing.T) {
	r := newSchedulerRig(t, 1, nil)
	a, b := r.controller("a", 1), r.controller("b", 1)
	for i := range 5 {
		a.enqueue(wakeKey{Name: fmt.Sprint(i)}, "resync")
		b.enqueue(wakeKey{Name: fmt.Sprint(i)}, "resync")
	}
	r.run(t)
	r.waitIdle(t, a, b)
	want := []string{"a/0", "a/1", "a/2", "a/3", "a/4", "b/0", "b/1", "b/2", "b/3", "b/4"}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fmt.Sprint(r.order) != fmt.Sprint(want) {
		t.Errorf("ran %v, want %v: each controller's keys in one turn", r.order, want)
	}
	if want := []string{"a:5", "b:5"}; fmt.Sprint(r.turns) != fmt.Sprint(want) {
		t.Errorf("turns %v, want %v", r.turns, want)
	}
}

// TestScheduler_TurnEndsOnStop: a turn takes no other key once the
// scheduler or its controller stops; the key that ran ends it, and the
// controller's stop does not pass it.
func TestScheduler_TurnEndsOnStop(t *testing.T) {
	tests := []struct {
		name string
		stop func(r *schedulerRig, c *controller, cancel context.CancelFunc)
	}{
		{name: "scheduler stops", stop: func(_ *schedulerRig, _ *controller, cancel context.CancelFunc) { cancel() }},
		{name: "controller stops", stop: func(r *schedulerRig, c *controller, _ context.CancelFunc) { r.env.scheduler.remove(c) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			r := newSchedulerRig(t, 1, release)
			c := r.controller("c", 1)
			for i := range 5 {
				c.enqueue(wakeKey{Name: fmt.Sprint(i)}, "event")
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); r.env.scheduler.run(ctx) }()
			defer func() { cancel(); <-done }()
			waitFor(t, "the first key to run", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.total == 1 })
			if waitAll(10*time.Millisecond, &c.queue.turns) {
				t.Fatal("a turn under way does not count: the controller's stop would not wait for it")
			}
			tt.stop(r, c, cancel)
			waitFor(t, "the stop", func() bool {
				s := r.env.scheduler
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.done || c.queue.sched.stopped
			})
			close(release)
			if !waitAll(10*time.Second, &c.queue.turns) {
				t.Fatal("the turn did not end")
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.order) != 1 || fmt.Sprint(r.turns) != "[c:1]" {
				t.Errorf("ran %v in turns %v, want one key in one turn", r.order, r.turns)
			}
		})
	}
}

// TestScheduler_Limits: no more guests run than the global limit, and no
// controller runs more than its maxConcurrentReconciles.
func TestScheduler_Limits(t *testing.T) {
	tests := []struct {
		name         string
		workers      int
		limits       []int
		wantPeakAll  int
		wantPeakEach []int
	}{
		{name: "global limit binds", workers: 3, limits: []int{4, 4, 4}, wantPeakAll: 3},
		{name: "per-controller limit binds", workers: 8, limits: []int{1, 2}, wantPeakAll: 3, wantPeakEach: []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			r := newSchedulerRig(t, tt.workers, release)
			var cs []*controller
			for i, limit := range tt.limits {
				c := r.controller(fmt.Sprintf("c%d", i), limit)
				for k := range 10 {
					c.enqueue(wakeKey{Name: fmt.Sprint(k)}, "event")
				}
				cs = append(cs, c)
			}
			r.run(t)
			waitFor(t, "the scheduler to fill its slots", func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.total == tt.wantPeakAll
			})
			close(release)
			r.waitIdle(t, cs...)
			if r.peakAll != tt.wantPeakAll {
				t.Errorf("at most %d ran at once, want %d", r.peakAll, tt.wantPeakAll)
			}
			for i, want := range tt.wantPeakEach {
				if got := r.peak[cs[i].name]; got != want {
					t.Errorf("%s: at most %d ran at once, want %d", cs[i].name, got, want)
				}
			}
			if len(r.order) != 10*len(cs) {
				t.Errorf("ran %d keys, want %d", len(r.order), 10*len(cs))
			}
		})
	}
}

// TestScheduler_KeyWokenWhileRunning runs the key again after it finishes,
// once however often it was woken meanwhile, and never twice at once.
func TestScheduler_KeyWokenWhileRunning(t *testing.T) {
	release := make(chan struct{})
	r := newSchedulerRig(t, 4, release)
	c := r.controller("c", 4)
	c.enqueue(wakeKey{Name: "k"}, "event")
	r.run(t)
	waitFor(t, "the key to run", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.total == 1 })
	for range 5 {
		c.enqueue(wakeKey{Name: "k"}, "event")
	}
	close(release)
	r.waitIdle(t, c)
	if len(r.order) != 2 || r.peak["c"] != 1 {
		t.Errorf("ran %v with at most %d at once, want k twice, one at a time", r.order, r.peak["c"])
	}
}

// TestScheduler_Held: keys of a controller that is still starting wait.
func TestScheduler_Held(t *testing.T) {
	r := newSchedulerRig(t, 2, nil)
	c := r.controller("c", 1)
	c.queue.sched.held = true
	c.enqueue(wakeKey{Name: "k"}, "event")
	// Checked before any worker runs: a worker could otherwise take the
	// key off the list before the check and hide the mistake.
	r.env.scheduler.mu.Lock()
	ready := len(r.env.scheduler.ready)
	r.env.scheduler.mu.Unlock()
	if ready != 0 {
		t.Fatalf("a held controller is in the ready list")
	}
	r.run(t)
	r.env.scheduler.start(c)
	waitFor(t, "the key to run once started", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.order) == 1
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestScheduler_OnIdle: the scheduler says when its last reconcile ends with
// none waiting, and only then.
func TestScheduler_OnIdle(t *testing.T) {
	release := make(chan struct{})
	r := newSchedulerRig(t, 2, release)
	var idles int
	r.env.scheduler.onIdle = func() { idles++ } // called with s.mu held
	a, b := r.controller("a", 1), r.controller("b", 1)
	a.enqueue(wakeKey{Name: "1"}, "event")
	b.enqueue(wakeKey{Name: "1"}, "event")
	r.run(t)
	waitFor(t, "both reconciles to run", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.total == 2
	})
	if r.env.scheduler.idle() {
		t.Error("idle() with two reconciles running")
	}
	close(release)
	r.waitIdle(t, a, b)
	if !r.env.scheduler.idle() {
		t.Error("not idle() once every reconcile ended")
	}
	s := r.env.scheduler
	s.mu.Lock()
	defer s.mu.Unlock()
	if idles != 1 {
		t.Errorf("onIdle called %d times, want once: when the second of two reconciles ended", idles)
	}
}
