package host

import "time"

// neverSuspend is the Never policy: the guest stays resident.
type neverSuspend struct{ forgetsHistory }

func (neverSuspend) afterReconcile(time.Time) (bool, time.Time) { return true, time.Time{} }
func (neverSuspend) idleUntil(_, _ time.Time) time.Time         { return time.Time{} }
func (neverSuspend) prewarmAt() (time.Time, bool)               { return time.Time{}, false }
func (neverSuspend) afterPrewarm(time.Time) time.Time           { return time.Time{} }

// forgetsHistory is embedded by the policies that do not learn from the
// controller's wakes and resumes.
type forgetsHistory struct{}

func (forgetsHistory) woke(time.Time)        {}
func (forgetsHistory) resumed(time.Duration) {}
