package sharding

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// leaseWatch is the informer over the group's Leases.
type leaseWatch struct {
	factory informers.SharedInformerFactory
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startWatch starts the informer over the group's Leases; Run calls it once
// its own Lease exists, so the first list already shows it.
func (m *Membership) startWatch(ctx context.Context) *leaseWatch {
	ctx, cancel := context.WithCancel(ctx)
	selector := labels.SelectorFromSet(labels.Set{GroupLabel: m.opts.Group}).String()
	w := &leaseWatch{cancel: cancel}
	w.factory = informers.NewSharedInformerFactoryWithOptions(m.client, 0,
		informers.WithNamespace(m.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	informer := w.factory.Coordination().V1().Leases().Informer()
	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { m.observe(obj) },
		UpdateFunc: func(_, obj interface{}) { m.observe(obj) },
		DeleteFunc: m.forget,
	})
	if err != nil {
		// Only a stopped informer refuses handlers; this one has not started.
		klog.ErrorS(err, "Could not watch the group's leases")
	}
	w.factory.Start(ctx.Done())
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if reg != nil && cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			m.mu.Lock()
			m.synced = true
			m.notifyLocked()
			m.mu.Unlock()
		}
	}()
	return w
}

// stop ends the informer and waits for its goroutines.
func (w *leaseWatch) stop() {
	w.cancel()
	w.factory.Shutdown()
	w.wg.Wait()
}

// groupLease returns obj as a Lease of the group and its replica id.
func (m *Membership) groupLease(obj interface{}) (*coordinationv1.Lease, string, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok || l.Labels[GroupLabel] != m.opts.Group || l.Namespace != m.opts.Namespace {
		return nil, "", false
	}
	id := l.Labels[ReplicaLabel]
	return l, id, id != "" && l.Name == leaseName(m.opts.Group, id)
}

// observe records a Lease the watch showed.
func (m *Membership) observe(obj interface{}) {
	l, id, ok := m.groupLease(obj)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.notifyLocked()
	if id == m.opts.Identity {
		m.observeSelf(l)
		return
	}
	h, c, r, d := holder(l), l.Annotations[ClaimAnnotation], renewTime(l), duration(l, m.opts.LeaseDuration)
	p := m.peers[id]
	if p != nil && p.holder == h && p.claim == c && p.renewed.Equal(r) && p.duration == d {
		return // a resync, or a change of nothing we read
	}
	if p == nil || p.expired {
		klog.InfoS("Replica joined the group", "replica", id, "holder", h)
	}
	m.peers[id] = &peer{holder: h, claim: c, renewed: r, duration: d}
}

// observeSelf records a write of this replica's own Lease coming back
// through the watch, and expires every peer that has been silent for its
// lease duration since; m.mu is held.
func (m *Membership) observeSelf(l *coordinationv1.Lease) {
	if holder(l) != m.stamp.holder || !m.written {
		return // an older incarnation's write
	}
	r := renewTime(l).UnixMicro()
	i := 0
	for i < len(m.pending) && m.pending[i].renewed.UnixMicro() != r {
		i++
	}
	if i == len(m.pending) {
		return // seen before, or dropped while the watch lagged
	}
	w := m.pending[i]
	m.pending = m.pending[i+1:]
	if w.recv.IsZero() {
		w.recv = m.opts.Clock.Now() // seen before it returned: it landed by now
	}
	m.selfSeen = true
	for id, p := range m.peers {
		if p.silentSince.IsZero() {
			p.silentSince = w.recv
		}
		if !p.expired && w.sent.Sub(p.silentSince) >= p.duration {
			p.expired = true
			klog.InfoS("Replica expired: its lease has not changed for its duration", "replica", id, "holder", p.holder,
				"silentFor", w.sent.Sub(p.silentSince).Round(time.Millisecond))
		}
	}
}

// forget records a Lease the watch showed deleted.
func (m *Membership) forget(obj interface{}) {
	l, id, ok := m.groupLease(obj)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != m.opts.Identity {
		if _, ok := m.peers[id]; ok {
			klog.InfoS("Replica left the group", "replica", id)
		}
		delete(m.peers, id)
		m.notifyLocked()
		return
	}
	if holder(l) == m.stamp.holder && m.written && !m.fenced {
		m.fenceAsked = true
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}
