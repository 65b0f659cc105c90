package sharding

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// partition makes every write of lease name fail while cut is set.
func partition(client *fake.Clientset, name string, cut *atomic.Bool) {
	for _, verb := range []string{"create", "update", "get"} {
		client.PrependReactor(verb, "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
			var n string
			switch a := a.(type) {
			case k8stesting.GetAction:
				n = a.GetName()
			case k8stesting.CreateAction:
				n = a.GetObject().(*coordinationv1.Lease).Name
			case k8stesting.UpdateAction:
				n = a.GetObject().(*coordinationv1.Lease).Name
			}
			if n == name && cut.Load() {
				return true, nil, errors.New("connection refused")
			}
			return false, nil, nil
		})
	}
}

// waitFor polls cond for a few seconds of real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestMembership_FencesWhenItCannotRenew(t *testing.T) {
	client := fake.NewClientset()
	var cut atomic.Bool
	partition(client, "wasm-apiserver-r0", &cut)
	hosts := newHostSet(t, keys(20))
	var fenced atomic.Int32
	a := startReplica(t, client, "r0", hosts, func(o *Options) {
		stop := o.OnFenced
		o.OnFenced = func() { fenced.Add(1); stop() }
	})
	step(t, 1, a)
	if got := a.host.count(); got != 20 {
		t.Fatalf("runs %d of 20 keys before the partition", got)
	}
	oldHolder := a.m.View().holder

	cut.Store(true)
	for _, d := range []time.Duration{2 * time.Second, 2 * time.Second, 999 * time.Millisecond} {
		a.clock.Step(d)
		time.Sleep(20 * time.Millisecond) // let a failed write happen, if any were due
		if fenced.Load() != 0 || !a.m.View().Live() {
			t.Fatalf("fenced %v after the last renewal, before the 5 s deadline", a.clock.Since(a.m.lastRenewTimeForTest()))
		}
	}
	a.clock.Step(time.Millisecond)
	waitFor(t, "fenced at the renew deadline", func() bool { return fenced.Load() == 1 })
	if a.m.View().Live() {
		t.Errorf("still live once fenced")
	}
	if got := a.host.count(); got != 0 {
		t.Errorf("runs %d keys once fenced, want 0", got)
	}

	// Writes fail on: no second fence, nothing runs.
	for range 5 {
		a.clock.Step(2 * time.Second)
	}
	time.Sleep(20 * time.Millisecond)
	if got := fenced.Load(); got != 1 {
		t.Errorf("fenced %d times, want once", got)
	}

	cut.Store(false)
	step(t, 2, a)
	l, err := client.CoordinationV1().Leases(testNamespace).Get(t.Context(), "wasm-apiserver-r0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := holder(l); h == oldHolder || holderID(h) != "r0" {
		t.Errorf("holder after the partition = %q, want a new incarnation of r0 (was %q)", h, oldHolder)
	}
	if got := *l.Spec.LeaseTransitions; got != 1 {
		t.Errorf("leaseTransitions = %d, want 1", got)
	}
	if got := a.host.count(); got != 20 {
		t.Errorf("runs %d of 20 keys after the partition healed", got)
	}
}

func TestMembership_FencesWhenItsLeaseIsDeleted(t *testing.T) {
	client := fake.NewClientset()
	hosts := newHostSet(t, keys(20))
	var fenced atomic.Int32
	a := startReplica(t, client, "r0", hosts, func(o *Options) {
		stop := o.OnFenced
		o.OnFenced = func() { fenced.Add(1); stop() }
	})
	step(t, 1, a)
	oldHolder := a.m.View().holder

	if err := client.CoordinationV1().Leases(testNamespace).Delete(t.Context(), "wasm-apiserver-r0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Others take a deleted lease's keys at once: the replica stops them
	// without waiting for its next renewal.
	waitFor(t, "fenced when its lease was deleted", func() bool { return fenced.Load() == 1 })
	step(t, 1, a)
	if h := a.m.View().holder; h == oldHolder {
		t.Errorf("rejoined as the same incarnation %q", h)
	}
	if got := a.host.count(); got != 20 {
		t.Errorf("runs %d of 20 keys after it rejoined", got)
	}
}
