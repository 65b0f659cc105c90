package host

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// inlineRuleBudget is how long a rule may run on an informer's goroutine
// (controller.deliver). Rules take microseconds; one that runs this long
// is stopped and run again in the controller's inbox.
const inlineRuleBudget = time.Millisecond

// maxPendingEvents bounds the events a controller's rules have yet to
// evaluate. A controller whose rules fall that far behind drops them and
// wakes every key once instead (overflow), as at its start: its backlog
// neither grows without bound nor holds up the informers that feed it.
const maxPendingEvents = 1024

// ReasonWakeRulesBehind is the Event of a controller whose wake rules fell
// maxPendingEvents behind its events.
const ReasonWakeRulesBehind = "WakeRulesBehind"

// pendingEvent is an event a watch selected, waiting for its rules.
type pendingEvent struct {
	w *watch
	e *event
}

// inbox holds the events a controller's wake rules have yet to see, once
// one of them has run over inlineRuleBudget: they run off the informers'
// goroutines then, and a slow rule (up to its deadline,
// wakerule.EvalTimeout) delays its own controller only, not the others an
// informer feeds. A goroutine drains the inbox while it has events and
// exits when it is empty, so a sleeping controller costs none; one
// controller's events are evaluated in order.
type inbox struct {
	// offPath is set once a rule ran over inlineRuleBudget: every later
	// event goes through the inbox.
	offPath atomic.Bool

	mu      sync.Mutex
	pending []pendingEvent
	running bool // a goroutine drains the inbox
	// overflowed and closed are set under mu and read without it while a
	// batch is evaluated, which either ends.
	overflowed atomic.Bool // events were dropped: wake every key
	closed     atomic.Bool
	// wakeAll asks for every key to be woken (a start or a resync), after
	// the events pending; guarded by mu.
	wakeAll bool
}

// submit queues an event for c's rules. It never waits.
func (c *controller) submit(w *watch, e *event) {
	b := &c.inbox
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed.Load():
		return
	case b.overflowed.Load():
		// Dropped: the wake of every key, to come, reads the cache after it.
	case len(b.pending) >= maxPendingEvents:
		b.overflowed.Store(true)
		b.pending = nil
	default:
		b.pending = append(b.pending, pendingEvent{w, e})
	}
	if !b.running {
		b.running = true
		c.done.Go(c.drainInbox)
	}
}

// requestWakeAll has the inbox's goroutine wake every key the caches map
// to, after the events pending: a start's or a resync's enqueue rules, up
// to their deadline each over every cached object, run there and not on a
// loader or the host's one timer goroutine, which every controller shares.
func (c *controller) requestWakeAll() {
	b := &c.inbox
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return
	}
	b.wakeAll = true
	if !b.running {
		b.running = true
		c.done.Go(c.drainInbox)
	}
}

// drainInbox evaluates the inbox's events until it is empty, then wakes
// every key when asked. After an overflow it wakes every key the caches map
// to, reading them after the dropped events changed them.
func (c *controller) drainInbox() {
	b := &c.inbox
	for {
		b.mu.Lock()
		batch, overflowed, all := b.pending, b.overflowed.Load(), b.wakeAll
		b.pending, b.wakeAll = nil, false
		b.overflowed.Store(false)
		if (len(batch) == 0 && !overflowed && !all) || b.closed.Load() {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		if overflowed {
			c.rulesFellBehind()
			c.wakeAll()
			continue
		}
		for _, p := range batch {
			if b.closed.Load() || b.overflowed.Load() {
				break
			}
			c.evaluate(p.w, p.e)
		}
		if all {
			c.wakeAll()
		}
	}
}

// rulesFellBehind reports an overflow of the inbox.
func (c *controller) rulesFellBehind() {
	msg := fmt.Sprintf("wake rules fell %d events behind; those events were dropped and every key is woken once instead",
		maxPendingEvents)
	c.logger.Info("Wake rules fell behind their events", "pending", maxPendingEvents)
	c.env.event(c.wc, "Warning", ReasonWakeRulesBehind, msg)
}

// closeInbox drops the events not evaluated yet and refuses new ones.
func (c *controller) closeInbox() {
	b := &c.inbox
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed.Store(true)
	b.pending = nil
}

// idle says whether every event submitted so far has been evaluated.
func (c *controller) idle() bool {
	b := &c.inbox
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.running
}
