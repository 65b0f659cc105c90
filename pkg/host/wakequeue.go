package host

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// wakeKey is one reconcile key of a controller.
type wakeKey struct {
	Namespace, Name string
}

func (k wakeKey) String() string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// wakeQueue holds the keys a controller was woken for until the scheduler
// runs them, with the reason of each and the backoff of failing keys. The
// controller adds keys and reads their reasons and backoff; only the
// scheduler takes keys (get, done), counts its turns (startTurn, endTurn)
// and touches sched, under its lock. The queue de-duplicates keys: a key
// woken again while it waits is queued once, and one woken while it runs
// is queued again when it is done.
type wakeQueue struct {
	keys    workqueue.TypedInterface[wakeKey]
	limiter workqueue.TypedRateLimiter[wakeKey] // backoff of failing keys
	reasons sync.Map                            // wakeKey → reason of the pending wake
	// turns counts the scheduler's turns on the controller under way
	// (turn.go): the reconciles running and the instances the turns keep
	// between keys, which the controller's stop waits for.
	turns sync.WaitGroup
	// sched is the scheduler's state of the controller: guarded by
	// scheduler.mu.
	sched schedulable
}

// newWakeQueue returns the queue of a controller that runs at most limit
// reconciles at once and waits, held, for the scheduler's start.
func newWakeQueue(limit int) *wakeQueue {
	return &wakeQueue{keys: workqueue.NewTyped[wakeKey](), limiter: workqueue.DefaultTypedControllerRateLimiter[wakeKey](),
		sched: schedulable{limit: limit, held: true}}
}

// add queues key, woken for reason.
func (q *wakeQueue) add(key wakeKey, reason string) {
	q.reasons.Store(key, reason)
	q.keys.Add(key)
}

// reason takes the reason key was last woken for: an event when it was
// not told.
func (q *wakeQueue) reason(key wakeKey) string {
	if r, ok := q.reasons.LoadAndDelete(key); ok {
		return r.(string)
	}
	return abi.ReasonEvent
}

// failed returns how long a key whose reconcile failed waits to be retried.
func (q *wakeQueue) failed(key wakeKey) time.Duration { return q.limiter.When(key) }

// succeeded resets the backoff of key.
func (q *wakeQueue) succeeded(key wakeKey) { q.limiter.Forget(key) }

// len is how many keys wait.
func (q *wakeQueue) len() int { return q.keys.Len() }

// get takes the next key, which runs until done; false once the queue is
// shut down. It waits while the queue is empty: the scheduler calls it
// only when a key waits.
func (q *wakeQueue) get() (wakeKey, bool) {
	key, shutdown := q.keys.Get()
	return key, !shutdown
}

// done marks key's reconcile finished; a key woken while it ran is queued
// again.
func (q *wakeQueue) done(key wakeKey) { q.keys.Done(key) }

// startTurn counts a turn on the controller, from its first key until
// its instance is released; endTurn ends it.
func (q *wakeQueue) startTurn() { q.turns.Add(1) }

// endTurn ends a turn counted by startTurn.
func (q *wakeQueue) endTurn() { q.turns.Done() }

// shutDown stops the queue: nothing added is kept.
func (q *wakeQueue) shutDown() { q.keys.ShutDown() }
