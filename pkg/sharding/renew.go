package sharding

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// Run writes the replica's Lease every RenewInterval, watches the group's
// Leases, and fences the replica when it cannot renew. It returns when ctx
// is done, after deleting the Lease so that the others take its controllers
// at once: the caller must have stopped them all before it cancels ctx.
func (m *Membership) Run(ctx context.Context) error {
	ticker := m.opts.Clock.NewTicker(m.opts.RenewInterval)
	defer ticker.Stop()
	var watch *leaseWatch
	defer func() {
		m.leave(ctx)
		if watch != nil {
			watch.stop()
		}
	}()
	for {
		m.renew(ctx)
		if watch == nil && m.hasWritten() {
			watch = m.startWatch(ctx)
		}
		next := m.opts.Clock.NewTimer(m.untilNext())
		select {
		case <-ctx.Done():
			next.Stop()
			return nil
		case <-ticker.C():
		case <-m.wake:
		case <-next.C():
		}
		next.Stop()
	}
}

// untilNext is how long until a write is due before the next tick: when
// the renew deadline of the live incarnation passes (to fence on time), or
// when a silent peer may be expired (a write sent from then on proves it,
// so its keys need not wait for the next tick).
func (m *Membership) untilNext() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Clock.Now()
	next := time.Hour
	if m.written && !m.fenced {
		next = m.lastRenew.Add(m.opts.RenewDeadline).Sub(now)
		for _, p := range m.peers {
			// Once a write was sent at or after that time, the watch
			// showing it is all that is missing: no more writes.
			if at := p.silentSince.Add(p.duration); !p.expired && !p.silentSince.IsZero() && at.After(m.lastSent) {
				next = min(next, at.Sub(now))
			}
		}
	}
	return max(0, next)
}

func (m *Membership) hasWritten() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written
}

// renew writes the Lease once, fencing the replica first when its own Lease
// was deleted, and afterwards when it has not renewed for RenewDeadline.
func (m *Membership) renew(ctx context.Context) {
	now := m.opts.Clock.Now()
	m.mu.Lock()
	if m.fenceAsked || m.pastDeadlineLocked(now) {
		m.mu.Unlock()
		m.fence()
		m.mu.Lock()
	}
	s := m.stamp
	s.renewed = now.Truncate(time.Microsecond)
	if n := len(m.pending); n > 0 && !s.renewed.After(m.pending[n-1].renewed) {
		s.renewed = m.pending[n-1].renewed.Add(time.Microsecond)
	}
	timeout := m.opts.RenewInterval
	if m.written && !m.fenced {
		timeout = min(timeout, m.lastRenew.Add(m.opts.RenewDeadline).Sub(now))
	}
	cur := m.lease
	// Recorded before it is sent: the watch may show it before it returns.
	m.pending = append(m.pending, sentWrite{renewed: s.renewed, sent: now})
	m.lastSent = now
	if len(m.pending) > maxPending {
		m.pending = m.pending[len(m.pending)-maxPending:]
	}
	m.mu.Unlock()

	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	out, err := m.write(reqCtx, s, cur)
	cancel()
	recv := m.opts.Clock.Now()

	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.lease = nil
		klog.ErrorS(err, "Could not renew the replica's lease", "lease", klog.KRef(m.opts.Namespace, leaseName(m.opts.Group, m.opts.Identity)))
		if m.pastDeadlineLocked(recv) {
			m.mu.Unlock()
			m.fence()
			m.mu.Lock()
		}
		return
	}
	if s.holder != m.stamp.holder {
		return // fenced meanwhile: the next write takes the new incarnation
	}
	if out.Spec.LeaseTransitions != nil {
		m.stamp.transitions = *out.Spec.LeaseTransitions
	}
	if !m.written || m.fenced {
		klog.InfoS("Replica joined its group", "holder", s.holder, "lease", klog.KObj(out))
	}
	m.lease, m.lastRenew, m.published = out, now, s.claim
	m.written, m.fenced = true, false
	for i := range m.pending {
		if m.pending[i].renewed.Equal(s.renewed) {
			m.pending[i].recv = recv
		}
	}
	m.notifyLocked()
}

// pastDeadlineLocked reports whether the live incarnation has gone
// RenewDeadline without a successful write; m.mu is held.
func (m *Membership) pastDeadlineLocked(now time.Time) bool {
	return m.written && !m.fenced && now.Sub(m.lastRenew) >= m.opts.RenewDeadline
}

// write puts s into the Lease: an update of cur when known, else whatever
// the API server holds, created when missing. It returns the stored object.
func (m *Membership) write(ctx context.Context, s stamp, cur *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := m.client.CoordinationV1().Leases(m.opts.Namespace)
	name := leaseName(m.opts.Group, m.opts.Identity)
	if cur != nil {
		l := cur.DeepCopy()
		s.apply(l, m.opts.Group, m.opts.Identity)
		out, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil || (!apierrors.IsConflict(err) && !apierrors.IsNotFound(err)) {
			return out, wrapLeaseErr(name, err)
		}
	}
	got, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: m.opts.Namespace}}
		s.apply(l, m.opts.Group, m.opts.Identity)
		out, err := leases.Create(ctx, l, metav1.CreateOptions{})
		return out, wrapLeaseErr(name, err)
	}
	if err != nil {
		return nil, wrapLeaseErr(name, err)
	}
	if holder(got) != s.holder && got.Spec.LeaseTransitions != nil {
		s.transitions = *got.Spec.LeaseTransitions + 1
	}
	s.apply(got, m.opts.Group, m.opts.Identity)
	out, err := leases.Update(ctx, got, metav1.UpdateOptions{})
	return out, wrapLeaseErr(name, err)
}

func wrapLeaseErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("lease[%s]: %w", name, err)
}

// fence stops the replica: it is no longer live, OnFenced stops its
// controllers, and its next write starts a new incarnation that claims
// nothing, so that no other replica mistakes an old claim for a new one.
func (m *Membership) fence() {
	m.mu.Lock()
	old, lastRenew := m.stamp.holder, m.lastRenew
	m.fenced, m.fenceAsked, m.selfSeen = true, false, false
	m.stamp = stamp{
		holder:      newHolder(m.opts.Identity),
		duration:    m.opts.LeaseDuration,
		joined:      m.opts.Clock.Now(),
		transitions: m.stamp.transitions + 1,
	}
	m.published, m.pending = "", nil
	m.notifyLocked()
	m.mu.Unlock()
	klog.InfoS("Replica fenced: stopping every controller", "holder", old, "lastRenew", lastRenew)
	m.opts.OnFenced()
}

// leave deletes the replica's Lease, so the others take its keys at once.
func (m *Membership) leave(ctx context.Context) {
	m.mu.Lock()
	cur, written := m.lease, m.written
	m.written, m.selfSeen = false, false
	m.notifyLocked()
	m.mu.Unlock()
	if !written {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.RenewInterval)
	defer cancel()
	name := leaseName(m.opts.Group, m.opts.Identity)
	opts := metav1.DeleteOptions{}
	if cur != nil && cur.UID != "" {
		uid := types.UID(cur.UID)
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := m.client.CoordinationV1().Leases(m.opts.Namespace).Delete(ctx, name, opts)
	if err != nil && !apierrors.IsNotFound(err) {
		klog.ErrorS(err, "Could not delete the replica's lease; the others take over when it expires", "lease", klog.KRef(m.opts.Namespace, name))
		return
	}
	klog.InfoS("Replica left its group", "lease", klog.KRef(m.opts.Namespace, name))
}
