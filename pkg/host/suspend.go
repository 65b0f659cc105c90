package host

import (
	"sync"
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// Predictive policy constants; docs/RATIONALE.md explains the model.
const (
	// resumeBudget is the share of a core that resuming one controller may
	// take before keeping it warm is worth it: a guest whose next wake is
	// expected sooner than resume cost / resumeBudget stays warm.
	resumeBudget = 0.001
	// minBreakEven and maxBreakEven bound the break-even gap.
	minBreakEven = time.Second
	maxBreakEven = 5 * time.Minute
	// gapWeight is the weight of the newest gap between wakes in the
	// moving average the prediction uses.
	gapWeight = 0.3
	// prewarmLead is how long before a due timer a suspended Predictive
	// guest is resumed, on top of its own resume cost.
	prewarmLead = 250 * time.Millisecond
)

// predictor learns when a controller wakes and what resuming it costs.
type predictor struct {
	mu       sync.Mutex
	lastWake time.Time
	gap      time.Duration // moving average of the time between wakes; 0: unknown
	resume   time.Duration // moving average of a resume; 0: unknown
}

// woke records a wake at now.
func (p *predictor) woke(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.lastWake.IsZero() {
		p.gap = ewma(p.gap, now.Sub(p.lastWake))
	}
	p.lastWake = now
}

// resumed records what one resume cost.
func (p *predictor) resumed(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resume = ewma(p.resume, d)
}

func ewma(avg, sample time.Duration) time.Duration {
	if avg == 0 {
		return sample
	}
	return time.Duration(gapWeight*float64(sample) + (1-gapWeight)*float64(avg))
}

// breakEven is the gap below which staying warm beats suspending.
func (p *predictor) breakEven() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	be := time.Duration(float64(p.resume) / resumeBudget)
	return min(max(be, minBreakEven), maxBreakEven)
}

// expected returns when the next wake is expected from the wakes seen so
// far, if they say anything.
func (p *predictor) expected() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gap == 0 {
		return time.Time{}, false
	}
	return p.lastWake.Add(p.gap), true
}

// resumeCost is the moving average of this controller's resumes.
func (p *predictor) resumeCost() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resume
}

// nextWake is the controller's expected next wake: its earliest timer or
// the learned rhythm of its wakes, whichever comes first.
func (c *controller) nextWake() (time.Time, bool) {
	next, ok := c.host.timers.next(c)
	if e, learned := c.predict.expected(); learned && (!ok || e.Before(next)) {
		next, ok = e, true
	}
	return next, ok
}

// keepWarm decides, after a reconcile, whether its instance stays resident
// and until when it is looked at again.
func (c *controller) keepWarm(now time.Time) (bool, time.Time) {
	switch c.wc.Spec.Suspend.Policy {
	case v1alpha1.SuspendNever:
		return true, time.Time{}
	case v1alpha1.SuspendImmediate:
		return false, time.Time{}
	case v1alpha1.SuspendPredictive:
		next, ok := c.nextWake()
		be := c.predict.breakEven()
		if !ok || next.Sub(now) > be {
			return false, time.Time{}
		}
		// Stay warm for the expected wake, and a break-even more in case it
		// comes late; suspend if it has not come by then.
		return true, maxTime(next, now).Add(be)
	default: // Idle
		return true, now.Add(c.idleAfter())
	}
}

func (c *controller) idleAfter() time.Duration {
	if d := c.wc.Spec.Suspend.IdleAfter; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return v1alpha1.DefaultIdleAfter
}

// scheduleSuspendCheck looks at the controller's idle instances at the
// given time.
func (c *controller) scheduleSuspendCheck(at time.Time) {
	c.host.timers.schedule(timerID{owner: c, kind: timerSuspend}, at, func() {
		c.done.Go(c.suspendIfIdle)
	})
}

// suspendIfIdle suspends the idle instances once the policy says the
// controller is idle, or looks again later.
func (c *controller) suspendIfIdle() {
	if c.ctx.Err() != nil {
		return
	}
	now := c.host.clock.Now()
	c.residentMu.Lock()
	last := c.lastActive
	c.residentMu.Unlock()
	var until time.Time
	switch c.wc.Spec.Suspend.Policy {
	case v1alpha1.SuspendNever:
		return
	case v1alpha1.SuspendPredictive:
		if next, ok := c.nextWake(); ok && next.After(now) && next.Sub(now) <= c.predict.breakEven() {
			until = next.Add(c.predict.breakEven())
		}
	default:
		until = last.Add(c.idleAfter())
	}
	if until.After(now) {
		c.scheduleSuspendCheck(until)
		return
	}
	c.suspendIdleInstances()
	c.schedulePrewarm()
}

// schedulePrewarm resumes a suspended Predictive guest shortly before its
// next timer fires, so that the wake finds it warm.
func (c *controller) schedulePrewarm() {
	if c.wc.Spec.Suspend.Policy != v1alpha1.SuspendPredictive {
		return
	}
	next, ok := c.host.timers.next(c)
	if !ok {
		return
	}
	at := next.Add(-prewarmLead - 4*c.predict.resumeCost())
	c.host.timers.schedule(timerID{owner: c, kind: timerPrewarm}, at, func() {
		c.done.Go(c.prewarm)
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
