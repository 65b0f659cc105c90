package sharding

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

func TestMembership_JoinWaitsForTheOldOwnersRelease(t *testing.T) {
	client := fake.NewClientset()
	hosts := newHostSet(t, keys(40))
	a := startReplica(t, client, "r0", hosts, nil)
	step(t, 1, a)

	a.host.gate.Lock() // a's host is slow to stop what it loses
	b := startReplica(t, client, "r1", hosts, nil)
	for range 3 {
		a.clock.Step(2 * time.Second)
		b.clock.Step(2 * time.Second)
		waitRenewed(t, a, b)
	}
	waitFor(t, "b live, both seen, and b's own claim written", func() bool {
		v := b.m.View()
		b.m.mu.Lock()
		claimed := b.m.published == v.claim()
		b.m.mu.Unlock()
		return v.Live() && len(v.Members()) == 2 && len(a.m.View().Members()) == 2 && claimed
	})
	v := b.m.View()
	assigned := 0
	for _, k := range hosts.keys {
		if v.Owner(k) == "r1" {
			assigned++
		}
		if v.Owns(k) {
			t.Fatalf("b owns %q before a released it", k)
		}
	}
	if assigned == 0 {
		t.Fatalf("no key assigned to b")
	}
	if got := a.host.count(); got != 40 {
		t.Fatalf("a runs %d of 40 keys while its host is held back", got)
	}

	a.host.gate.Unlock()
	step(t, 1, a, b)
	checkAssigned(t, hosts, b.m.View())
	if got := b.host.count(); got != assigned {
		t.Errorf("b runs %d keys, want the %d assigned to it", got, assigned)
	}
}

// TestMembership_ThreeReplicas runs replicas through joins, a clean leave,
// a crash and a partition, and fails the moment two run the same key.
func TestMembership_ThreeReplicas(t *testing.T) {
	client := fake.NewClientset()
	hosts := newHostSet(t, keys(300))
	var cut atomic.Bool
	partition(client, "wasm-apiserver-r0", &cut)
	r0 := startReplica(t, client, "r0", hosts, nil)
	r1 := startReplica(t, client, "r1", hosts, nil)
	r2 := startReplica(t, client, "r2", hosts, nil)
	step(t, 2, r0, r1, r2)
	checkAssigned(t, hosts, r0.m.View())
	members := func(r *replica) string { return strings.Join(r.m.View().Members(), ",") }
	if got := members(r0); got != "r0,r1,r2" {
		t.Fatalf("members = %s", got)
	}

	t.Log("r3 joins")
	r3 := startReplica(t, client, "r3", hosts, nil)
	step(t, 2, r0, r1, r2, r3)
	checkAssigned(t, hosts, r3.m.View())
	for _, r := range []*replica{r0, r1, r2, r3} {
		if n := r.host.count(); n < 40 || n > 110 {
			t.Errorf("%s runs %d of 300 keys", r.m.Identity(), n)
		}
	}

	t.Log("r1 leaves: its keys move at the next step")
	r1.stop()
	step(t, 1, r0, r2, r3)
	if got := members(r0); got != "r0,r2,r3" {
		t.Fatalf("members after r1 left = %s", got)
	}
	checkAssigned(t, hosts, r0.m.View())

	t.Log("r3 crashes: its keys move after the lease duration")
	r3.kill()
	step(t, 3, r0, r2)
	if got := members(r0); got != "r0,r2,r3" {
		t.Fatalf("members 6 s after r3 crashed = %s", got)
	}
	step(t, 2, r0, r2)
	if got := members(r0); got != "r0,r2" {
		t.Fatalf("members 10 s after r3 crashed = %s", got)
	}
	checkAssigned(t, hosts, r0.m.View())

	t.Log("r0 is cut off from the API server: it fences before r2 takes its keys")
	cut.Store(true)
	for range 5 {
		r0.clock.Step(2 * time.Second)
		r2.clock.Step(2 * time.Second)
		settle(t, r2)
	}
	if got := r0.host.count(); got != 0 {
		t.Fatalf("r0 runs %d keys 10 s into the partition", got)
	}
	if got := members(r2); got != "r2" {
		t.Fatalf("r2 sees %s 10 s into the partition", got)
	}
	checkAssigned(t, hosts, r2.m.View())

	t.Log("the partition heals: r0 gets its keys back once r2 released them")
	cut.Store(false)
	step(t, 2, r0, r2)
	checkAssigned(t, hosts, r0.m.View())
	if got := members(r2); got != "r0,r2" {
		t.Fatalf("members after the partition healed = %s", got)
	}
}
