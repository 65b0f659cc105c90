package host

import (
	"sync"
	"time"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// instancePool holds the open instances of one controller's guest and
// decides, through the suspend policy, when they leave memory. The
// controller owns it; its lock guards only the pool's own fields and is
// never held while a guest runs, a snapshot is written or the status is
// updated. Resuming, suspending and snapshotting an instance is the
// controller's (instances.go, snapshots.go): the pool only keeps count.
type instancePool struct {
	// policy decides when idle instances leave memory; set once.
	policy suspendPolicy
	// idle holds the instances no reconcile runs on, at most
	// maxConcurrentReconciles.
	idle chan *wasmruntime.Instance

	mu         sync.Mutex
	resident   map[*wasmruntime.Instance]struct{} // every open instance, idle or busy
	lastActive time.Time                          // when a reconcile last finished
}

func newInstancePool(limit int, policy suspendPolicy) *instancePool {
	return &instancePool{policy: policy, idle: make(chan *wasmruntime.Instance, limit),
		resident: map[*wasmruntime.Instance]struct{}{}}
}

// take returns an idle instance, if there is one. It never waits.
func (p *instancePool) take() (*wasmruntime.Instance, bool) {
	select {
	case inst := <-p.idle:
		return inst, true
	default:
		return nil, false
	}
}

// putIdle keeps inst as idle; false when the idle instances are already as
// many as may run at once, and inst must be suspended.
func (p *instancePool) putIdle(inst *wasmruntime.Instance) bool {
	select {
	case p.idle <- inst:
		return true
	default:
		return false
	}
}

// add counts an instance just opened.
func (p *instancePool) add(inst *wasmruntime.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resident[inst] = struct{}{}
}

// remove forgets a closed instance.
func (p *instancePool) remove(inst *wasmruntime.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.resident, inst)
}

// count is how many instances are open, idle or busy.
func (p *instancePool) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.resident)
}

// memoryBytes is the linear memory of the open instances.
func (p *instancePool) memoryBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var total int64
	for inst := range p.resident {
		total += int64(inst.MemoryBytes()) // 0 once closed
	}
	return total
}

// released records that a reconcile finished at now and asks the policy
// whether its instance stays resident, and when the idle instances are
// looked at again (zero: not at all).
func (p *instancePool) released(now time.Time) (warm bool, recheck time.Time) {
	p.mu.Lock()
	p.lastActive = now
	p.mu.Unlock()
	return p.policy.afterReconcile(now)
}

// idleUntil asks the policy, at now, until when the idle instances stay
// resident (see suspendPolicy.idleUntil).
func (p *instancePool) idleUntil(now time.Time) time.Time {
	p.mu.Lock()
	last := p.lastActive
	p.mu.Unlock()
	return p.policy.idleUntil(now, last)
}
