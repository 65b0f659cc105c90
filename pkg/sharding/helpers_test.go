package sharding

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	testingclock "k8s.io/utils/clock/testing"
)

const testNamespace = "wasm-system"

// replica is one Membership under test, with its own fake clock (so a test
// can stop one replica's time, or skew it) and a fake host that runs
// exactly the keys its View owns.
type replica struct {
	t      *testing.T
	m      *Membership
	clock  *testingclock.FakeClock
	cancel context.CancelFunc
	done   chan struct{}
	host   *fakeHost
}

// startReplica runs a Membership named id on client; its host runs keys.
func startReplica(t *testing.T, client kubernetes.Interface, id string, hosts *hostSet, mutate func(*Options)) *replica {
	t.Helper()
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := &replica{t: t, clock: clk, done: make(chan struct{})}
	r.host = hosts.add(id)
	opts := Options{Namespace: testNamespace, Identity: id, Clock: clk, OnFenced: r.host.stopAll}
	if mutate != nil {
		mutate(&opts)
	}
	m, err := New(client, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		_ = m.Run(ctx)
	}()
	go r.host.run(ctx, m)
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run once the host stopped every key for good, as the real
// host must, and waits for it.
func (r *replica) stop() {
	r.host.die()
	r.cancel()
	<-r.done
}

// kill makes the replica die without a word: its host runs nothing, its
// clock never moves again, so it never writes its Lease again.
func (r *replica) kill() { r.host.die() }

// settled reports whether the replica wrote its Lease at its current time,
// saw that write and the latest write of every other live replica, and its
// host applied the latest View and its claim is written.
func (r *replica) settled(others []*replica) bool {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.written || !m.lastRenew.Equal(r.clock.Now()) || len(m.pending) > 0 || !m.synced {
		return false
	}
	if m.stamp.claim != m.published || r.host.applied() != m.viewLocked().fingerprint() {
		return false
	}
	for _, o := range others {
		if o == r || o.host.isDead() {
			continue
		}
		o.m.mu.Lock()
		var want time.Time
		if o.m.lease != nil {
			want = renewTime(o.m.lease)
		}
		h := o.m.stamp.holder
		o.m.mu.Unlock()
		p := m.peers[o.m.opts.Identity]
		if p == nil || p.holder != h || !p.renewed.Equal(want) {
			return false
		}
	}
	return true
}

// step moves the clocks of the given replicas forward by n renew
// intervals, one at a time, waiting each time until they have all settled.
func step(t *testing.T, n int, rs ...*replica) {
	t.Helper()
	for range n {
		for _, r := range rs {
			r.clock.Step(r.m.opts.RenewInterval)
		}
		settle(t, rs...)
	}
}

// settle waits until every replica in rs has settled.
func settle(t *testing.T, rs ...*replica) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		for _, r := range rs {
			if !r.settled(rs) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		dump(t, rs...)
		t.Fatalf("replicas did not settle: %v", err)
	}
}

// dump logs what each replica sees.
func dump(t *testing.T, rs ...*replica) {
	t.Helper()
	{
		for _, r := range rs {
			r.m.mu.Lock()
			t.Logf("replica %s: view %s pending=%d lastRenew=%v now=%v claim=%q published=%q host=%q synced=%v", r.m.opts.Identity, r.m.viewLocked().fingerprint(), len(r.m.pending), r.m.lastRenew, r.clock.Now(), r.m.stamp.claim, r.m.published, r.host.applied(), r.m.synced)
			for id, p := range r.m.peers {
				t.Logf("  peer %s: %+v", id, *p)
			}
			r.m.mu.Unlock()
		}
	}
}

// hostSet records which replica runs which key, and fails the test the
// moment two run the same one.
type hostSet struct {
	t    *testing.T
	keys []string

	mu      sync.Mutex
	runners map[string]string // key -> replica id
}

func newHostSet(t *testing.T, keys []string) *hostSet {
	return &hostSet{t: t, keys: keys, runners: map[string]string{}}
}

func (s *hostSet) add(id string) *fakeHost {
	return &fakeHost{set: s, id: id, running: map[string]bool{}}
}

// runner is the replica running key, "" when none.
func (s *hostSet) runner(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runners[key]
}

// fakeHost runs exactly the keys a replica's View owns.
type fakeHost struct {
	set *hostSet
	id  string

	// gate is held while the host runs: a test locks it to hold the host
	// back from applying new Views.
	gate sync.Mutex

	mu          sync.Mutex
	running     map[string]bool
	dead        bool
	fingerprint string
}

// run applies every View the Membership announces, as the real host must:
// stop what is no longer owned, start what is, then release.
func (h *fakeHost) run(ctx context.Context, m *Membership) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.Changes():
		}
		h.gate.Lock()
		v := m.View()
		if !h.apply(v) {
			h.gate.Unlock()
			return
		}
		m.Released(v)
		h.gate.Unlock()
		h.mu.Lock()
		h.fingerprint = v.fingerprint()
		h.mu.Unlock()
	}
}

func (h *fakeHost) apply(v *View) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dead {
		return false
	}
	s := h.set
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		switch owns := v.Owns(k); {
		case owns && !h.running[k]:
			if other := s.runners[k]; other != "" {
				s.t.Errorf("key %q started by %s while %s runs it", k, h.id, other)
			}
			s.runners[k] = h.id
			h.running[k] = true
		case !owns && h.running[k]:
			delete(s.runners, k)
			delete(h.running, k)
		}
	}
	return true
}

func (h *fakeHost) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set.mu.Lock()
	defer h.set.mu.Unlock()
	for k := range h.running {
		delete(h.set.runners, k)
	}
	h.running = map[string]bool{}
	h.fingerprint = ""
}

func (h *fakeHost) die() {
	h.stopAll()
	h.mu.Lock()
	h.dead = true
	h.mu.Unlock()
}

func (h *fakeHost) isDead() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dead
}

func (h *fakeHost) applied() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fingerprint
}

func (h *fakeHost) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.running)
}

// checkAssigned fails unless every key runs on exactly the replica that
// view assigns it to.
func checkAssigned(t *testing.T, s *hostSet, v *View) {
	t.Helper()
	var wrong []string
	for _, k := range s.keys {
		if got, want := s.runner(k), v.Owner(k); got != want {
			wrong = append(wrong, fmt.Sprintf("%s runs on %q, assigned to %q", k, got, want))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d of %d keys misplaced, e.g. %s", len(wrong), len(s.keys), wrong[0])
	}
}

// lastRenewTimeForTest is when the last successful write was sent.
func (m *Membership) lastRenewTimeForTest() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastRenew
}

// waitRenewed waits until every replica in rs wrote its Lease at its
// current time and saw that write, whatever its host does.
func waitRenewed(t *testing.T, rs ...*replica) {
	t.Helper()
	waitFor(t, "replicas renewed", func() bool {
		for _, r := range rs {
			r.m.mu.Lock()
			ok := r.m.lastRenew.Equal(r.clock.Now()) && len(r.m.pending) == 0
			r.m.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	})
}
