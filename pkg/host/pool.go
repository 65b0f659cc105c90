package host

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// instancePool runs the instances of one controller's guest: it starts
// them (afresh or from the snapshot, instances.go, snapshots.go), keeps
// the idle ones, and suspends them when the suspend policy says so
// (suspend.go), writing their snapshot first. The controller owns it and
// asks it for an instance per reconcile (acquire, release). Its lock
// guards only the open instances, the ones it took out of idle and the
// time of the last reconcile, and is never held while a guest runs, a
// snapshot is written or the status is updated.
type instancePool struct {
	env    *hostServices
	wc     *v1alpha1.WasmController
	module *wasmruntime.Module
	// cfg is what every instance of the guest starts with; its API is set
	// once the controller's cache view exists, before the first reconcile.
	cfg    wasmruntime.InstanceConfig
	status *statusWriter
	logger klog.Logger
	// owner owns the timers the pool schedules: the controller, so that
	// stopping it cancels them.
	owner any
	// ctx is the controller's: done once it stops.
	ctx context.Context
	// done counts the controller's goroutines, the pool's among them.
	done *sync.WaitGroup

	// compactGuest runs the guest's compact export and gives back its
	// zeroed pages: (*wasmruntime.Instance).Compact but in tests.
	compactGuest func(context.Context, *wasmruntime.Instance) (uint64, error)
	// policy decides when idle instances leave memory; set once.
	policy suspendPolicy
	// idle holds the instances no reconcile runs on, at most
	// maxConcurrentReconciles.
	idle chan *wasmruntime.Instance

	mu sync.Mutex
	// away counts the idle instances the pool took out of idle to compact
	// or suspend them, and awayOver is closed once the last of them is
	// idle again or gone; nil while none is away. A wake that finds no
	// idle instance waits for them (acquire).
	away     int
	awayOver chan struct{}
	// resident holds every open instance, idle or busy, with the size of
	// its memory when it started or was last compacted (compact.go).
	resident   map[*wasmruntime.Instance]uint64
	lastActive time.Time // when a reconcile last finished
	// compactedAt is when the idle instances were last compacted, and
	// compactDue says that a look at them is scheduled.
	compactedAt time.Time
	compactDue  bool
	// lastSnapshot is the size of the guest's last snapshot, and
	// snapshotFloor that of the first written after a compaction (or the
	// first the pool wrote): stored bytes growing far past it are garbage
	// kept in a memory that did not grow (compactBeforeSnapshot).
	lastSnapshot, snapshotFloor int64
}

// newInstancePool returns the pool of c's guest, running module, with at
// most limit idle instances.
func newInstancePool(c *controller, module *wasmruntime.Module, limit int, policy suspendPolicy) *instancePool {
	return &instancePool{env: c.env, wc: c.wc, module: module, status: c.status, logger: c.logger, owner: c,
		ctx: c.ctx, done: &c.done, policy: policy, idle: make(chan *wasmruntime.Instance, limit),
		resident: map[*wasmruntime.Instance]uint64{}, compactGuest: compactInstance}
}

// compactInstance is what compactGuest is outside tests.
func compactInstance(ctx context.Context, inst *wasmruntime.Instance) (uint64, error) {
	return inst.Compact(ctx)
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

// takeOrWait returns an idle instance if there is one, counted as away
// (until back) if away is set; else, while an instance is away, a channel
// closed once none is; else neither.
func (p *instancePool) takeOrWait(away bool) (*wasmruntime.Instance, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if inst, ok := p.take(); ok {
		if away {
			p.goAwayLocked()
		}
		return inst, nil
	}
	if p.away == 0 {
		return nil, nil
	}
	return nil, p.awayOver
}

// goAway says that an instance that is neither idle nor reconciling (a
// turn just released it) is on its way to idle or to its suspend: wakes
// that find no idle instance wait for it (back).
func (p *instancePool) goAway() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.goAwayLocked()
}

func (p *instancePool) goAwayLocked() {
	if p.away == 0 {
		p.awayOver = make(chan struct{})
	}
	p.away++
}

// back says that an instance takeOrWait took away is idle again or gone,
// and tells the wakes waiting for it.
func (p *instancePool) back() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.away--; p.away == 0 {
		close(p.awayOver)
		p.awayOver = nil
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
	p.resident[inst] = inst.MemoryBytes()
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
