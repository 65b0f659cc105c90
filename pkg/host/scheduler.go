package host

import (
	"context"
	"sync"

	"k8s.io/utils/clock"
)

// DefaultMaxRunningGuests is how many guests may run at once when the
// server is not told otherwise.
const DefaultMaxRunningGuests = 8

// schedulable is the scheduler's state of one controller, kept in its
// wakeQueue: its concurrency limit and what runs. Its fields are guarded by
// scheduler.mu and touched by the scheduler's methods only.
type schedulable struct {
	// limit is the controller's maxConcurrentReconciles.
	limit int
	// running counts the controller's turns under way: the workers it
	// holds.
	running int
	// ready says it is in the scheduler's ready list.
	ready bool
	// held keeps a controller that is still starting from running: its
	// keys queue up until start.
	held    bool
	stopped bool
}

// scheduler runs the reconciles of every controller on a fixed number of
// workers, the global limit on guests running at once. Controllers with
// queued keys wait in a FIFO list; a worker takes the first and runs its
// keys, one after another on one guest instance, for one turn (turn.go),
// bounded in keys and time, and the controller goes to the back of the
// list if it has more. A busy controller with thousands of keys cannot
// starve the others: each of them runs within one round of the list.
type scheduler struct {
	workers int
	// clock times the turns.
	clock clock.PassiveClock
	// reconcile runs one key in a turn; (*controller).process but in
	// tests.
	reconcile func(c *controller, t *turn, key wakeKey)
	// endTurn ends a turn; (*controller).endTurn but in tests.
	endTurn func(c *controller, t *turn)
	// onIdle, when set, is called (with mu held: it must not block) when
	// the last turn ends and no controller waits for one.
	onIdle func()

	mu      sync.Mutex
	cond    *sync.Cond
	ready   []*controller
	running int // turns under way, over every controller
	done    bool
}

func newScheduler(workers int, clk clock.PassiveClock) *scheduler {
	if workers < 1 {
		workers = DefaultMaxRunningGuests
	}
	s := &scheduler{workers: workers, clock: clk, reconcile: (*controller).process, endTurn: (*controller).endTurn}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// notify tells the scheduler that c may have queued keys.
func (s *scheduler) notify(c *controller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.makeReady(c) {
		s.cond.Signal()
	}
}

// makeReady puts c at the end of the ready list if it has queued keys and
// room to run another. Called with s.mu held.
func (s *scheduler) makeReady(c *controller) bool {
	st := &c.queue.sched
	if st.ready || st.held || st.stopped || st.running >= st.limit || c.queue.len() == 0 {
		return false
	}
	st.ready = true
	s.ready = append(s.ready, c)
	return true
}

// start lets c's queued keys run.
func (s *scheduler) start(c *controller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.queue.sched.held = false
	if s.makeReady(c) {
		s.cond.Signal()
	}
}

// remove stops scheduling c; reconciles already running go on.
func (s *scheduler) remove(c *controller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &c.queue.sched
	st.stopped = true
	if !st.ready {
		return
	}
	st.ready = false
	for i, r := range s.ready {
		if r == c {
			s.ready = append(s.ready[:i], s.ready[i+1:]...)
			break
		}
	}
}

// run serves reconciles on s.workers goroutines until ctx is done.
func (s *scheduler) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(s.work)
	}
	<-ctx.Done()
	s.mu.Lock()
	s.done = true
	s.cond.Broadcast()
	s.mu.Unlock()
	wg.Wait()
}

// work runs turns until the scheduler stops.
func (s *scheduler) work() {
	var t turn // one per worker, reused: a turn escapes to the reconcile
	for {
		c, key, ok := s.next()
		if !ok {
			return
		}
		t = turn{start: s.clock.Now()}
		for ok {
			s.reconcile(c, &t, key)
			t.keys++
			key, ok = s.advance(c, &t, key)
		}
		s.endTurn(c, &t)
		s.finish(c)
	}
}

// next waits for a ready controller and starts a turn on it with one key
// off its queue.
func (s *scheduler) next() (*controller, wakeKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.ready) == 0 && !s.done {
			s.cond.Wait()
		}
		if s.done {
			return nil, wakeKey{}, false
		}
		c := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		c.queue.sched.ready = false
		// Only workers take keys, and only here, under s.mu: a controller
		// is ready only with a queued key, so get does not block.
		if c.queue.len() == 0 {
			continue
		}
		key, ok := c.queue.get()
		if !ok {
			continue
		}
		c.queue.startTurn()
		c.queue.sched.running++
		s.running++
		if s.makeReady(c) { // more keys and room: back to the end of the list
			s.cond.Signal()
		}
		return c, key, true
	}
}

// advance marks key, just run in turn t of c, done, and takes c's next
// queued key while the turn goes on: it ends once it has had its share, no
// key waits, or the controller or the scheduler stops.
func (s *scheduler) advance(c *controller, t *turn, key wakeKey) (wakeKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.queue.done(key) // may queue key again if it was woken while it ran
	if s.done || c.queue.sched.stopped || c.queue.len() == 0 || t.over(s.clock.Now()) {
		return wakeKey{}, false
	}
	next, ok := c.queue.get() // does not block: a key waits
	if !ok {
		return wakeKey{}, false
	}
	if s.makeReady(c) { // more keys and room for another turn
		s.cond.Signal()
	}
	return next, true
}

// finish ends a turn on c, whose instance was released, and lets c run
// again.
func (s *scheduler) finish(c *controller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.queue.endTurn()
	c.queue.sched.running--
	s.running--
	if s.makeReady(c) {
		s.cond.Signal()
	}
	if s.running == 0 && len(s.ready) == 0 && s.onIdle != nil {
		s.onIdle()
	}
}

// idle says whether no turn runs and no controller waits for one.
func (s *scheduler) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running == 0 && len(s.ready) == 0
}

// runningCount returns how many turns run now: the workers busy.
func (s *scheduler) runningCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}
