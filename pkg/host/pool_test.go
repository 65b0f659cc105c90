package host

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// TestInstancePool: the pool keeps at most its limit of idle instances,
// counts the open ones whether idle or busy, and measures idleness from
// the end of the last reconcile.
func TestInstancePool(t *testing.T) {
	start := time.Unix(1700000000, 0)
	p := newInstancePool(&controller{}, nil, 2, newIdleSuspend(&metav1.Duration{Duration: time.Minute}))
	a, b, c := &wasmruntime.Instance{}, &wasmruntime.Instance{}, &wasmruntime.Instance{}
	for _, inst := range []*wasmruntime.Instance{a, b, c} {
		p.add(inst)
	}
	if !p.putIdle(a) || !p.putIdle(b) {
		t.Fatal("the pool refused an idle instance below its limit")
	}
	if p.putIdle(c) {
		t.Error("the pool kept more idle instances than its limit")
	}
	if n := p.count(); n != 3 {
		t.Errorf("count = %d, want 3: idle and busy instances are open", n)
	}
	if inst, ok := p.take(); !ok || inst != a {
		t.Errorf("take = %p, %v; want the first idle instance", inst, ok)
	}
	p.remove(a)
	if n := p.count(); n != 2 {
		t.Errorf("count after remove = %d, want 2", n)
	}

	warm, recheck := p.released(start)
	if !warm || !recheck.Equal(start.Add(time.Minute)) {
		t.Errorf("released = %v, %v; want warm until a minute later", warm, recheck)
	}
	if until := p.idleUntil(start.Add(time.Hour)); !until.Equal(start.Add(time.Minute)) {
		t.Errorf("idleUntil = %v, want a minute after the last reconcile", until)
	}
}
