package sharding

import (
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestNew_Validate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "defaults", opts: Options{Namespace: "ns", Identity: "wasm-apiserver-0"}},
		{name: "no namespace", opts: Options{Identity: "r0"}, wantErr: "namespace is required"},
		{name: "bad identity", opts: Options{Namespace: "ns", Identity: "R_0"}, wantErr: "identity[\"R_0\"]"},
		{
			name:    "deadline past the lease",
			opts:    Options{Namespace: "ns", Identity: "r0", LeaseDuration: 4 * time.Second, RenewDeadline: 5 * time.Second},
			wantErr: "lease duration[4s] must be longer than the renew deadline[5s]",
		},
		{
			name:    "interval past the deadline",
			opts:    Options{Namespace: "ns", Identity: "r0", RenewInterval: 6 * time.Second},
			wantErr: "renew deadline[5s] must be longer than the renew interval[6s]",
		},
		{
			name:    "fractional lease",
			opts:    Options{Namespace: "ns", Identity: "r0", LeaseDuration: 8500 * time.Millisecond},
			wantErr: "must be whole seconds",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(fake.NewClientset(), tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMembership_JoinWritesLeaseAndLeaveDeletesIt(t *testing.T) {
	client := fake.NewClientset()
	hosts := newHostSet(t, keys(50))
	a := startReplica(t, client, "r0", hosts, nil)
	step(t, 1, a)

	l, err := client.CoordinationV1().Leases(testNamespace).Get(t.Context(), "wasm-apiserver-r0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get lease: %v", err)
	}
	if got := l.Labels[GroupLabel]; got != DefaultGroup {
		t.Errorf("group label = %q, want %q", got, DefaultGroup)
	}
	if got := l.Labels[ReplicaLabel]; got != "r0" {
		t.Errorf("replica label = %q, want r0", got)
	}
	if got := holder(l); holderID(got) != "r0" {
		t.Errorf("holder = %q, want an incarnation of r0", got)
	}
	if got := *l.Spec.LeaseDurationSeconds; got != 8 {
		t.Errorf("leaseDurationSeconds = %d, want 8", got)
	}
	// A write that publishes a claim at the same instant adds 1µs.
	if d := renewTime(l).Sub(a.clock.Now()); d < 0 || d > time.Millisecond {
		t.Errorf("renewTime = %v, want the replica's now %v", renewTime(l), a.clock.Now())
	}
	if got := l.Annotations[ClaimAnnotation]; got != holder(l) {
		t.Errorf("claim = %q, want only itself %q once its host released", got, holder(l))
	}
	if got := a.host.count(); got != 50 {
		t.Errorf("a lone replica runs %d of 50 keys", got)
	}

	a.stop()
	if _, err := client.CoordinationV1().Leases(testNamespace).Get(t.Context(), "wasm-apiserver-r0", metav1.GetOptions{}); err == nil {
		t.Errorf("lease still there after Run returned")
	}
}

func TestMembership_NotLiveBeforeItSeesItself(t *testing.T) {
	client := fake.NewClientset()
	a := startReplica(t, client, "r0", newHostSet(t, nil), nil)
	// A View taken before Run has written and watched anything owns nothing.
	v := &View{}
	a.m.mu.Lock()
	*v = *a.m.viewLocked()
	a.m.mu.Unlock()
	if v.Live() && !a.m.synced {
		t.Fatalf("live before its watch synced")
	}
	settle(t, a)
	if !a.m.View().Live() {
		t.Fatalf("not live after it settled")
	}
}

func TestMembership_PeerExpiresOnlyByObservation(t *testing.T) {
	client := fake.NewClientset()
	hosts := newHostSet(t, keys(100))
	a := startReplica(t, client, "r0", hosts, nil)
	b := startReplica(t, client, "r1", hosts, nil)
	step(t, 1, a, b)
	if got := a.m.View().Members(); strings.Join(got, ",") != "r0,r1" {
		t.Fatalf("members = %v, want r0,r1", got)
	}

	// b's clock is set far ahead: the renewTime it writes says nothing to
	// a, which counts only how long it saw b's lease unchanged.
	b.clock.Step(time.Hour)
	step(t, 1, a, b)
	if got := a.m.View().Members(); len(got) != 2 {
		t.Fatalf("members = %v after b's clock jumped, want both", got)
	}

	b.kill()
	// b counts as silent from the return of a's first write seen after b's
	// last change (at the kill, or 2 s later), and expires once a write
	// of a sent 8 s after that comes back: 8 or 10 s after the kill.
	step(t, 3, a)
	if got := a.m.View().Members(); len(got) != 2 {
		t.Fatalf("members = %v 6 s after b died, want b still live", got)
	}
	step(t, 2, a)
	if got := a.m.View().Members(); strings.Join(got, ",") != "r0" {
		t.Fatalf("members = %v 10 s after b died, want r0 alone", got)
	}
	checkAssigned(t, hosts, a.m.View())
}

func TestMembership_ExpiryCountsOwnWritesNotWatchDelay(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name string
		// writes are this replica's own writes (sent, returned), all seen
		// through the watch after the peer's last change, in order.
		writes      [][2]float64
		wantExpired bool
	}{
		{name: "no own write seen", writes: nil},
		{name: "written 7.9 s after the first came back", writes: [][2]float64{{1, 1.1}, {5, 5.1}, {9, 9.1}}},
		{name: "written 8 s after the first came back", writes: [][2]float64{{1, 1.1}, {5, 5.1}, {9.1, 9.2}}, wantExpired: true},
		{
			// However late the watch shows them, writes sent 4 s apart
			// prove only 4 s of silence.
			name: "two writes seen a minute late", writes: [][2]float64{{1, 1.1}, {5, 5.1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(fake.NewClientset(), Options{Namespace: testNamespace, Identity: "r0"})
			if err != nil {
				t.Fatal(err)
			}
			m.written, m.synced = true, true
			peerLease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
				Name: "wasm-apiserver-r1", Namespace: testNamespace,
				Labels: map[string]string{GroupLabel: DefaultGroup, ReplicaLabel: "r1"},
			}}
			stamp{holder: "r1_1", duration: 8 * time.Second, renewed: at(0)}.apply(peerLease, DefaultGroup, "r1")
			m.observe(peerLease)
			for _, w := range tt.writes {
				sent := at(w[0])
				m.pending = append(m.pending, sentWrite{renewed: sent, sent: sent, recv: at(w[1])})
			}
			for _, w := range tt.writes {
				own := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
					Name: "wasm-apiserver-r0", Namespace: testNamespace,
					Labels: map[string]string{GroupLabel: DefaultGroup, ReplicaLabel: "r0"},
				}}
				stamp{holder: m.stamp.holder, duration: 8 * time.Second, renewed: at(w[0])}.apply(own, DefaultGroup, "r0")
				m.observe(own)
			}
			got := !slices.Contains(m.View().Members(), "r1")
			if got != tt.wantExpired {
				t.Errorf("peer expired = %v, want %v", got, tt.wantExpired)
			}
		})
	}
}
