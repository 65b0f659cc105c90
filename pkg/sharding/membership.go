package sharding

import (
	"fmt"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/client-go/kubernetes"
)

// Membership is one replica's place in its group: it keeps the replica's
// own Lease renewed, watches the others', and tells which controllers the
// replica may run. Build it with New and run it with Run.
type Membership struct {
	client  kubernetes.Interface
	opts    Options
	changes chan struct{}
	// wake asks Run to write the Lease now.
	wake chan struct{}

	mu sync.Mutex
	// stamp is what the next write puts into the Lease.
	stamp stamp
	// lease is the object the last write returned, nil when unknown.
	lease *coordinationv1.Lease
	// written is set once the current incarnation was written.
	written bool
	// lastRenew is when the last successful write was sent, lastSent when
	// the last write was.
	lastRenew, lastSent time.Time
	// published is the claim the Lease carries after the last write.
	published string
	// pending are the writes the watch has not shown yet, oldest first.
	pending []sentWrite
	// selfSeen is set once the watch showed a write of this incarnation.
	selfSeen bool
	// synced is set once the watch delivered its first full list.
	synced bool
	fenced bool
	// fenceAsked is set when the watch showed the Lease deleted.
	fenceAsked bool
	peers      map[string]*peer
	// notified is the fingerprint of the last View announced on changes.
	notified string
}

// sentWrite is a write of the replica's own Lease.
type sentWrite struct {
	renewed time.Time
	// sent is when it was sent, recv when it returned (zero until then).
	sent, recv time.Time
}

// maxPending bounds the writes kept while the watch lags.
const maxPending = 64

// peer is another replica's Lease as this one last saw it.
type peer struct {
	holder   string
	claim    string
	renewed  time.Time
	duration time.Duration
	// silentSince is when the first write of this replica's own Lease that
	// the watch showed after the peer's last change came back, zero while
	// none has. The peer is expired once this replica's watch shows one of
	// its own writes sent a lease duration later: the stream is ordered,
	// so the peer wrote nothing in between, whatever the watch's delay.
	silentSince time.Time
	expired     bool
}

// New returns the Membership of replica opts.Identity. It checks the options
// and touches nothing until Run.
func New(client kubernetes.Interface, opts Options) (*Membership, error) {
	opts = opts.complete()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("sharding options: %w", err)
	}
	m := &Membership{
		client:  client,
		opts:    opts,
		changes: make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		peers:   map[string]*peer{},
	}
	m.stamp = stamp{holder: newHolder(opts.Identity), duration: opts.LeaseDuration, joined: opts.Clock.Now()}
	return m, nil
}

// Identity is this replica's id.
func (m *Membership) Identity() string { return m.opts.Identity }

// Changes receives a value whenever View may answer differently: a replica
// joined, left, expired or released keys, or this one became live or was
// fenced. Values are coalesced: read View after each.
func (m *Membership) Changes() <-chan struct{} { return m.changes }

// View returns the current picture of the group.
func (m *Membership) View() *View {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.viewLocked()
}

// Owner is View().Owner(key).
func (m *Membership) Owner(key string) string { return m.View().Owner(key) }

// Owns is View().Owns(key).
func (m *Membership) Owns(key string) bool { return m.View().Owns(key) }

// Released tells that the replica runs no controller v does not give it
// (v.Owns is false for every key it stopped): its Lease then claims v's
// members, which lets the new owners start the keys it gave up, and lets
// this replica start the keys it gained once every other replica has done
// the same. Views of an older incarnation are ignored.
func (m *Membership) Released(v *View) {
	m.mu.Lock()
	if !v.live || v.holder != m.stamp.holder || m.fenced || v.claim() == m.stamp.claim {
		m.mu.Unlock()
		return
	}
	m.stamp.claim = v.claim()
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// viewLocked builds the View; m.mu is held.
func (m *Membership) viewLocked() *View {
	v := &View{
		self:   m.opts.Identity,
		holder: m.stamp.holder,
		live:   m.written && !m.fenced && m.selfSeen && m.synced,
		claims: map[string]peerClaim{},
	}
	holders := map[string]string{}
	if v.live {
		holders[v.self] = v.holder
	}
	for id, p := range m.peers {
		if p.expired {
			continue
		}
		holders[id] = p.holder
		c := parseClaim(p.claim)
		if len(c) == 0 {
			v.claims[id] = peerClaim{none: true}
			continue
		}
		ids := make([]string, len(c))
		for i, h := range c {
			ids[i] = holderID(h)
		}
		v.claims[id] = peerClaim{ids: ids, acks: slices.Contains(c, m.stamp.holder)}
	}
	for id := range holders {
		v.members = append(v.members, id)
	}
	slices.Sort(v.members)
	for _, id := range v.members {
		v.holders = append(v.holders, holders[id])
	}
	for _, h := range parseClaim(m.published) {
		v.ownClaim = append(v.ownClaim, holderID(h))
	}
	return v
}

// notifyLocked signals changes when the View differs from the last one
// announced; m.mu is held.
func (m *Membership) notifyLocked() {
	fp := m.viewLocked().fingerprint()
	if fp == m.notified {
		return
	}
	m.notified = fp
	select {
	case m.changes <- struct{}{}:
	default:
	}
}
