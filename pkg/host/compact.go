package host

import (
	"context"
	"time"

	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// A resident guest keeps the memory of its largest burst: linear memory
// never shrinks, and a Go guest's runtime does not give freed pages back.
// Once a warm guest has been quiet for a while after reconciles, the host
// compacts its idle instances (wasmruntime.Instance.Compact: the guest
// zeroes its free memory and the host gives the zero pages back), and it
// compacts an instance before writing its snapshot, which then stores
// fewer pages. The timer is the host's: a guest cannot make itself
// compacted more often than it reconciles.

// DefaultCompactAfter is how long a resident guest must have been quiet
// after a reconcile before its idle instances are compacted, when
// Config.CompactAfter is 0.
const DefaultCompactAfter = 10 * time.Second

// maxCompactions is how many compactions run at once across every
// controller: a compaction touches every free page of its guest before it
// gives them back, so many at once, as when many controllers fall quiet
// together, would first raise the memory they are meant to lower.
const maxCompactions = 2

// Triggers of a compaction: the label trigger of
// guest_memory_released_bytes_total.
const (
	compactIdle     = "idle"
	compactSnapshot = "snapshot"
)

// scheduleCompaction looks at the controller's idle instances at the given
// time, to compact them if it has been quiet since, unless a look is due
// already: that one looks again later if the guest was not quiet, so a
// reconcile costs the timer queue nothing more.
func (p *instancePool) scheduleCompaction(at time.Time) {
	if p.env.compactAfter <= 0 {
		return
	}
	p.mu.Lock()
	due := p.compactDue
	p.compactDue = true
	p.mu.Unlock()
	if due {
		return
	}
	p.env.timers.schedule(timerID{owner: p.owner, kind: timerCompact}, at, func() {
		p.done.Go(p.compactIfQuiet)
	})
}

// compactIfQuiet compacts the idle instances once no reconcile has
// finished for compactAfter, or looks again later. Nothing is compacted
// when no reconcile ran since the last compaction.
func (p *instancePool) compactIfQuiet() {
	if p.ctx.Err() != nil {
		return
	}
	now := p.env.clock.Now()
	p.mu.Lock()
	last, compacted := p.lastActive, p.compactedAt
	p.compactDue = false
	p.mu.Unlock()
	if !last.After(compacted) {
		return
	}
	if due := last.Add(p.env.compactAfter); due.After(now) {
		p.scheduleCompaction(due)
		return
	}
	p.mu.Lock()
	p.compactedAt = now
	p.mu.Unlock()
	for range len(p.idle) {
		if !p.compactIdleInstance() {
			break
		}
	}
	p.residentChanged()
}

// compactIdleInstance waits for one of the host's compaction slots, then
// compacts an idle instance and gives it back; false when none is idle or
// the controller stops. It takes the instance only once it holds the slot,
// so that a compaction queued behind other controllers' keeps nothing from
// a wake; a wake that finds no other idle instance while one is compacted
// waits for it (acquire).
func (p *instancePool) compactIdleInstance() bool {
	if p.ctx.Err() != nil {
		return false // stopping: the idle instances are suspended as they are
	}
	release, ok := p.compactionSlot(true)
	if !ok {
		return false // stopping: the idle instances are suspended as they are
	}
	defer release()
	inst, _ := p.takeOrWait(true)
	if inst == nil {
		return false // a reconcile took it, or the guest was suspended
	}
	defer p.back()
	if p.compact(inst, compactIdle) && !p.putIdle(inst) {
		p.suspend(inst)
	}
	return true
}

// compactionSlot takes one of the host's compaction slots and returns what
// gives it back. With wait, it waits for one, and fails only when the
// controller stops; without, it fails when every slot is busy: a suspend
// runs on a reconcile worker, and must not wait for other controllers'
// guests.
func (p *instancePool) compactionSlot(wait bool) (release func(), ok bool) {
	slots := p.env.compacting
	if slots == nil {
		return func() {}, true
	}
	if wait {
		select {
		case slots <- struct{}{}:
		case <-p.ctx.Done():
			return nil, false
		}
	} else {
		select {
		case slots <- struct{}{}:
		default:
			return nil, false
		}
	}
	return func() { <-slots }, true
}

// compact compacts inst, an instance no reconcile runs on, and says
// whether it is still open. A guest that fails in its compact export
// (traps, loops past its deadline, runs out of memory) is discarded as
// after a failed reconcile: its next wake starts afresh. The caller holds
// a compaction slot.
//
// A compaction under way when the controller stops finishes (the guest's
// part within its deadline of initialization), so that the stop finds the
// instance idle and can write its snapshot.
func (p *instancePool) compact(inst *wasmruntime.Instance, trigger string) bool {
	released, err := p.compactGuest(context.WithoutCancel(p.ctx), inst)
	if err != nil {
		p.logger.Info("Compacting the guest's memory failed; it is discarded", "error", compactError(err))
		if trigger == compactIdle {
			p.forget(inst) // before a snapshot, the suspend under way forgets it
		}
		return false
	}
	p.env.metrics.compacted(trigger, released)
	p.mu.Lock()
	if _, ok := p.resident[inst]; ok {
		p.resident[inst] = inst.MemoryBytes()
	}
	p.mu.Unlock()
	return true
}

// Stored bytes that grew by snapshotGrowthFactor, and by at least
// snapshotGrowthMin, since the snapshot after the last compaction make the
// next snapshot compact first.
const (
	snapshotGrowthFactor = 2
	snapshotGrowthMin    = 1 << 20
)

// compactBeforeSnapshot compacts inst, whose snapshot is about to be
// written, and says whether it did, if its memory grew since it started or
// was last compacted (a burst is what grows it), or if the last snapshot
// stored twice what the one after the last compaction did: a Go guest's
// heap fills a memory that stays the same size with garbage, wake after
// wake, toward its GC goal, and every snapshot would store it. A guest
// suspended after every reconcile that stays within its memory and its
// stored bytes is not compacted each time, which would cost its wakes the
// pages given back.
func (p *instancePool) compactBeforeSnapshot(inst *wasmruntime.Instance) bool {
	p.mu.Lock()
	before, ok := p.resident[inst]
	grown := p.lastSnapshot >= snapshotGrowthFactor*p.snapshotFloor && p.lastSnapshot-p.snapshotFloor >= snapshotGrowthMin
	p.mu.Unlock()
	if !ok || (inst.MemoryBytes() <= before && !grown) {
		return false
	}
	release, ok := p.compactionSlot(false)
	if !ok {
		return false
	}
	defer release()
	return p.compact(inst, compactSnapshot)
}

// snapshotSaved records the size of the snapshot just written, after a
// compaction or not.
func (p *instancePool) snapshotSaved(bytes int64, compacted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastSnapshot = bytes
	if compacted || p.snapshotFloor == 0 {
		p.snapshotFloor = bytes
	}
}
