package host

import "time"

// immediateSuspend is the Immediate policy: the guest is suspended after
// every reconcile.
type immediateSuspend struct{ forgetsHistory }

func (immediateSuspend) afterReconcile(time.Time) (bool, time.Time) { return false, time.Time{} }

// idleUntil suspends at once; no instance is left idle to look at anyway.
func (immediateSuspend) idleUntil(now, _ time.Time) time.Time { return now }
func (immediateSuspend) prewarmAt() (time.Time, bool)         { return time.Time{}, false }
func (immediateSuspend) afterPrewarm(now time.Time) time.Time { return now }
