package host

import (
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// timerKind tells the timers of one controller and key apart.
type timerKind int

const (
	// timerResync is a controller's next resync; its key is empty.
	timerResync timerKind = iota
	// timerWake is a delayed wake of one key: a requeue the guest asked
	// for, or a retry after a failed reconcile.
	timerWake
	// timerSuspend is when a controller's idle instances are looked at
	// again, to suspend them if the policy says so.
	timerSuspend
	// timerPrewarm resumes a suspended guest shortly before its next timer.
	timerPrewarm
	// timerCompact is when a controller's idle instances are looked at
	// again, to compact them if it has been quiet (compact.go).
	timerCompact
	// timerImageSweep is the next removal of unused image files
	// (removeUnusedImages); its owner is the host's services.
	timerImageSweep
)

// timerID names one timer. A second timer with the same ID keeps the
// earlier of the two times, as client-go's delaying queue does.
type timerID struct {
	owner any
	kind  timerKind
	key   wakeKey
}

type timer struct {
	id    timerID
	at    time.Time
	fire  func()
	index int // in the heap
}

// timerQueue holds every host-side timer of every controller (resyncs,
// requeues and retries) in one heap, served by one goroutine: a sleeping
// controller costs an entry, not a goroutine or a runtime timer.
type timerQueue struct {
	clock clock.WithTicker

	mu      sync.Mutex
	heap    timerHeap
	byOwner map[any]map[timerID]*timer
	kick    chan struct{}
	// firing counts the timers popped as due and not yet fired.
	firing int
}

func newTimerQueue(c clock.WithTicker) *timerQueue {
	return &timerQueue{clock: c, byOwner: map[any]map[timerID]*timer{}, kick: make(chan struct{}, 1)}
}

// schedule calls fire at the given time, on the queue's goroutine; fire
// must not block. If a timer with the same ID is pending, the earlier time
// wins and the later fire function is dropped.
func (q *timerQueue) schedule(id timerID, at time.Time, fire func()) {
	q.mu.Lock()
	timers := q.byOwner[id.owner]
	if timers == nil {
		timers = map[timerID]*timer{}
		q.byOwner[id.owner] = timers
	}
	earliest := q.heap.Len() == 0 || at.Before(q.heap[0].at)
	if t, ok := timers[id]; ok {
		if !at.Before(t.at) {
			q.mu.Unlock()
			return
		}
		t.at, t.fire = at, fire
		heap.Fix(&q.heap, t.index)
	} else {
		t := &timer{id: id, at: at, fire: fire}
		timers[id] = t
		heap.Push(&q.heap, t)
	}
	q.mu.Unlock()
	if earliest {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
}

// cancel drops every pending timer of owner.
func (q *timerQueue) cancel(owner any) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, t := range q.byOwner[owner] {
		heap.Remove(&q.heap, t.index)
	}
	delete(q.byOwner, owner)
}

// nextOf returns the time of owner's earliest pending timer of the given
// kinds.
func (q *timerQueue) nextOf(owner any, kinds ...timerKind) (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var earliest time.Time
	for id, t := range q.byOwner[owner] {
		if slices.Contains(kinds, id.kind) && (earliest.IsZero() || t.at.Before(earliest)) {
			earliest = t.at
		}
	}
	return earliest, !earliest.IsZero()
}

// next returns the time of owner's next wake: its earliest resync,
// requeue or retry.
func (q *timerQueue) next(owner any) (time.Time, bool) {
	return q.nextOf(owner, timerResync, timerWake)
}

// len returns how many timers are pending.
func (q *timerQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.heap.Len()
}

// run fires timers as they come due until ctx is done.
func (q *timerQueue) run(ctx context.Context) {
	for {
		due, wait := q.popDue()
		for _, t := range due {
			t.fire()
		}
		if len(due) > 0 {
			// firing may have scheduled timers that are due already; the
			// next popDue also counts what it pops anew (firing).
			continue
		}
		if !q.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits for the next timer (wait < 0: none pending), a newly
// scheduled earlier one, or ctx; it returns false once ctx is done.
func (q *timerQueue) sleep(ctx context.Context, wait time.Duration) bool {
	var due <-chan time.Time
	if wait >= 0 {
		t := q.clock.NewTimer(wait)
		defer t.Stop()
		due = t.C()
	}
	select {
	case <-ctx.Done():
		return false
	case <-q.kick:
	case <-due:
	}
	return true
}

// popDue removes the timers that are due and returns them in order, and
// how long until the next one (-1: none pending).
func (q *timerQueue) popDue() ([]*timer, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	var due []*timer
	for q.heap.Len() > 0 && !q.heap[0].at.After(now) {
		t := heap.Pop(&q.heap).(*timer)
		timers := q.byOwner[t.id.owner]
		delete(timers, t.id)
		if len(timers) == 0 {
			delete(q.byOwner, t.id.owner)
		}
		due = append(due, t)
	}
	q.firing = len(due)
	if q.heap.Len() == 0 {
		return due, -1
	}
	return due, q.heap[0].at.Sub(now)
}

// timerHeap orders timers by time (container/heap).
type timerHeap []*timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
