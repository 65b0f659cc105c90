package host

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// idleSuspend is the Idle policy, the default: the guest stays resident
// until idleAfter has passed without a reconcile.
type idleSuspend struct {
	forgetsHistory
	idleAfter time.Duration
}

// newIdleSuspend returns the Idle policy for spec.suspend.idleAfter, which
// defaults to v1alpha1.DefaultIdleAfter.
func newIdleSuspend(idleAfter *metav1.Duration) idleSuspend {
	p := idleSuspend{idleAfter: v1alpha1.DefaultIdleAfter}
	if idleAfter != nil && idleAfter.Duration > 0 {
		p.idleAfter = idleAfter.Duration
	}
	return p
}

func (p idleSuspend) afterReconcile(now time.Time) (bool, time.Time) {
	return true, now.Add(p.idleAfter)
}

func (p idleSuspend) idleUntil(_, lastActive time.Time) time.Time {
	return lastActive.Add(p.idleAfter)
}

func (idleSuspend) prewarmAt() (time.Time, bool) { return time.Time{}, false }

func (p idleSuspend) afterPrewarm(now time.Time) time.Time { return now.Add(p.idleAfter) }
