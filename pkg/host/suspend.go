package host

import (
	"time"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// suspendPolicy decides when a controller's guest instances leave memory:
// one value of spec.suspend.policy. Each policy is a type in its own file
// (suspend_<policy>.go), and suspendPolicyFor maps the API's values to
// them; the host asks the controller's policy, never the spec.
type suspendPolicy interface {
	// afterReconcile decides, at now, whether the instance a reconcile just
	// released stays resident, and when the controller's idle instances are
	// looked at again (zero: not at all).
	afterReconcile(now time.Time) (warm bool, recheck time.Time)
	// idleUntil says, when the idle instances are looked at, until when they
	// stay resident: a time not after now suspends them at once, a later one
	// looks again then, and zero keeps them resident with no later look.
	// lastActive is when a reconcile last finished.
	idleUntil(now, lastActive time.Time) time.Time
	// prewarmAt says when a guest just suspended is resumed ahead of its
	// next wake, if ever.
	prewarmAt() (time.Time, bool)
	// afterPrewarm is when a guest prewarmed at now is looked at again.
	afterPrewarm(now time.Time) time.Time
	// woke records that the controller woke at now.
	woke(now time.Time)
	// resumed records what resuming the guest cost.
	resumed(took time.Duration)
}

// suspendPolicyFor returns the policy of spec, and false when its policy is
// not one this server knows.
//
// # Notes
//
// nextTimer returns the controller's earliest pending timer; the policies
// that look ahead use it.
func suspendPolicyFor(spec v1alpha1.SuspendSpec, nextTimer func() (time.Time, bool)) (suspendPolicy, bool) {
	switch spec.Policy {
	case v1alpha1.SuspendNever:
		return neverSuspend{}, true
	case v1alpha1.SuspendImmediate:
		return immediateSuspend{}, true
	case v1alpha1.SuspendIdle, "":
		return newIdleSuspend(spec.IdleAfter), true
	case v1alpha1.SuspendPredictive:
		return newPredictiveSuspend(nextTimer), true
	default:
		return nil, false
	}
}

// newSuspendPolicy returns the policy of spec. A policy this server does
// not know (one stored by a newer server) is served as Idle, the default.
func newSuspendPolicy(spec v1alpha1.SuspendSpec, nextTimer func() (time.Time, bool)) suspendPolicy {
	if p, ok := suspendPolicyFor(spec, nextTimer); ok {
		return p
	}
	return newIdleSuspend(spec.IdleAfter)
}

// scheduleSuspendCheck looks at the controller's idle instances at the
// given time.
func (p *instancePool) scheduleSuspendCheck(at time.Time) {
	p.env.timers.schedule(timerID{owner: p.owner, kind: timerSuspend}, at, func() {
		p.done.Go(p.suspendIfIdle)
	})
}

// suspendIfIdle suspends the idle instances once the policy says the
// controller is idle, or looks again later.
func (p *instancePool) suspendIfIdle() {
	if p.ctx.Err() != nil {
		return
	}
	now := p.env.clock.Now()
	until := p.idleUntil(now)
	if until.IsZero() {
		return
	}
	if until.After(now) {
		p.scheduleSuspendCheck(until)
		return
	}
	p.suspendIdle()
	p.schedulePrewarm()
}

// schedulePrewarm resumes a suspended guest ahead of its next wake, when
// the policy asks for it, so that the wake finds it warm.
func (p *instancePool) schedulePrewarm() {
	at, ok := p.policy.prewarmAt()
	if !ok {
		return
	}
	p.env.timers.schedule(timerID{owner: p.owner, kind: timerPrewarm}, at, func() {
		p.done.Go(p.prewarm)
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
