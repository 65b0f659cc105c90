package host

import (
	"context"
	"time"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// A turn is one scheduler worker's run of one controller's queued keys:
// once a reconcile ends and the controller has another key ready, the
// worker runs it at once on the same guest instance, up to maxTurnKeys
// keys and maxTurnTime, and only then does the controller go to the back
// of the ready list. The instance stays with the turn between its keys,
// and the suspend policy applies when the turn ends (endTurn): a guest
// suspended after its reconciles (Immediate) is resumed and suspended, its
// snapshot written, once for the keys woken together, as by a resync,
// rather than once for each. Every key still has its own reconcile,
// reason, result, requeue or backoff, status update and metrics
// (controller.process).
//
// A turn holds at most one instance, and its worker holds at most one
// turn: resident Immediate guests never outnumber the workers, as when
// each reconcile resumed its own.
const (
	// maxTurnKeys bounds the keys of one turn. A resync wakes every key of
	// a controller's cached objects, a handful for most controllers (9
	// for the replicator of make bench-system: its source, its copy, each
	// namespace); 16 serves such a resync with one resume and one
	// snapshot, while a controller with thousands of keys still gives way
	// to the others after 16.
	maxTurnKeys = 16
	// maxTurnTime bounds how long after it started a turn takes another
	// key: what a controller's batch can add to the wait of the others'
	// keys on one worker, beyond its last reconcile. A warm reconcile of a
	// small guest takes well under a millisecond unloaded and a few under
	// load, so a resync's keys fit; a cold wake (a resume, a reconcile
	// and a snapshot) took about 190 ms on a loaded two-core server, so a
	// turn holds a worker about as long as one such wake did while it
	// saves the others' resumes. A slow guest (one reconcile past the
	// bound) runs one key per turn, as before turns.
	maxTurnTime = 50 * time.Millisecond
)

// turn is the state of one turn, owned by its worker.
type turn struct {
	// start is when its first key started, by the host's clock.
	start time.Time
	// keys counts the keys it ran.
	keys int
	// inst is the guest instance it keeps between its keys: resident,
	// counted by the pool, and neither idle (no other reconcile takes it,
	// no suspend check sees it) nor released until the turn ends.
	inst *wasmruntime.Instance
}

// over says, at now, whether the turn has had its share: it takes no
// other key.
func (t *turn) over(now time.Time) bool {
	return t.keys >= maxTurnKeys || now.Sub(t.start) >= maxTurnTime
}

// instance returns the instance t kept from its last key, or else one of
// p's: an idle resident instance or one resumed.
func (t *turn) instance(ctx context.Context, p *instancePool) (*wasmruntime.Instance, error) {
	if inst := t.inst; inst != nil {
		t.inst = nil
		return inst, nil
	}
	return p.acquire(ctx)
}

// keep holds inst, which a reconcile of t just ran on, for t's next key.
// An instance the reconcile closed (it trapped, timed out or ran out of
// memory) is forgotten instead, and the next key starts another.
func (t *turn) keep(p *instancePool, inst *wasmruntime.Instance) {
	if inst.Closed() {
		p.forget(inst)
		return
	}
	t.inst = inst
}

// endTurn ends turn t of the controller: the instance it kept stays
// resident or is suspended, as the suspend policy says (release). The
// scheduler calls it once the turn takes no other key, whatever ended it:
// the bound, no key left, the controller's stop or the server's.
func (c *controller) endTurn(t *turn) {
	inst := t.inst
	if inst == nil {
		return
	}
	t.inst = nil
	c.pool.release(inst)
}
