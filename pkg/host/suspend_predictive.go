package host

import (
	"sync"
	"time"
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

// predictiveSuspend is the Predictive policy: the guest stays warm while
// its next wake, from its timers or the rhythm of its wakes, is expected
// within the break-even gap of its resume cost, and is resumed again
// shortly before a timer fires.
type predictiveSuspend struct {
	predict   predictor
	nextTimer func() (time.Time, bool) // the controller's earliest timer
}

func newPredictiveSuspend(nextTimer func() (time.Time, bool)) *predictiveSuspend {
	return &predictiveSuspend{nextTimer: nextTimer}
}

func (p *predictiveSuspend) woke(now time.Time)         { p.predict.woke(now) }
func (p *predictiveSuspend) resumed(took time.Duration) { p.predict.resumed(took) }

// nextWake is the controller's expected next wake: its earliest timer or
// the learned rhythm of its wakes, whichever comes first.
func (p *predictiveSuspend) nextWake() (time.Time, bool) {
	next, ok := p.nextTimer()
	if e, learned := p.predict.expected(); learned && (!ok || e.Before(next)) {
		next, ok = e, true
	}
	return next, ok
}

func (p *predictiveSuspend) afterReconcile(now time.Time) (bool, time.Time) {
	next, ok := p.nextWake()
	be := p.predict.breakEven()
	if !ok || next.Sub(now) > be {
		return false, time.Time{}
	}
	// Stay warm for the expected wake, and a break-even more in case it
	// comes late; suspend if it has not come by then.
	return true, maxTime(next, now).Add(be)
}

func (p *predictiveSuspend) idleUntil(now, _ time.Time) time.Time {
	be := p.predict.breakEven()
	if next, ok := p.nextWake(); ok && next.After(now) && next.Sub(now) <= be {
		return next.Add(be)
	}
	return now
}

func (p *predictiveSuspend) prewarmAt() (time.Time, bool) {
	next, ok := p.nextTimer()
	if !ok {
		return time.Time{}, false
	}
	return next.Add(-prewarmLead - 4*p.predict.resumeCost()), true
}

func (p *predictiveSuspend) afterPrewarm(now time.Time) time.Time {
	next, _ := p.nextWake()
	return maxTime(next, now).Add(p.predict.breakEven())
}

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
