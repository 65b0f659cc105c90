package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// snapshotSuffix ends the name of every snapshot file.
const snapshotSuffix = ".snap"

// ConditionSnapshotted is false when the guest's last snapshot could not
// be written (reason SnapshotFailed): its memory is lost at each suspend.
// It is true once a snapshot was written.
const ConditionSnapshotted = "Snapshotted"

// snapshotState remembers, for the life of the server, the snapshots that
// are stale but could not be removed, so that they are never restored.
type snapshotState struct {
	stalePaths sync.Map // path -> struct{}
}

// stale remembers that the snapshot at path must not be restored.
func (s *snapshotState) stale(path string) { s.stalePaths.Store(path, struct{}{}) }

// fresh forgets that the snapshot at path was stale: it was written again.
func (s *snapshotState) fresh(path string) { s.stalePaths.Delete(path) }

// isStale says whether the snapshot at path must not be restored.
func (s *snapshotState) isStale(path string) bool {
	_, ok := s.stalePaths.Load(path)
	return ok
}

// forgetUnder forgets the stale snapshots under dir.
func (s *snapshotState) forgetUnder(dir string) {
	s.stalePaths.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), dir+string(filepath.Separator)) {
			s.stalePaths.Delete(k)
		}
		return true
	})
}

// snapshotting says whether the controller snapshots its guest when it
// suspends it.
func (p *instancePool) snapshotting() bool {
	return p.wc.Spec.Suspend.Snapshot && p.env.snapshotRoot != ""
}

// snapshotPath is the snapshot of this controller: a file per UID and
// generation, so that neither a WasmController created again under the
// same name nor a changed spec (whose env the guest read at init) restores
// an older guest's memory. The runtime ties it to the module digest too.
func (p *instancePool) snapshotPath() string {
	return filepath.Join(p.env.snapshotDir(p.wc.Namespace, p.wc.Name),
		fmt.Sprintf("%s-%d%s", p.wc.UID, p.wc.Generation, snapshotSuffix))
}

// Snapshot files are mapped by the guests restored from them (the runtime
// maps them copy-on-write): a file is only ever written whole under a
// temporary name and renamed into place (Instance.SaveSnapshot), and only
// ever removed by unlinking it. Nothing may write to, truncate or reuse a
// snapshot file in place: a live guest would see the change, or the whole
// server would fault on a page past the end of a shortened file.

// saveSnapshot writes the instance's snapshot before it is closed. A
// failure loses only the guest's memory, which level-based reconciling
// does not depend on: the older snapshot is removed, or remembered as
// stale when it cannot be, so that the next wake starts afresh; the
// failure is reported by a condition and an Event until a snapshot is
// written again.
func (p *instancePool) saveSnapshot(inst *wasmruntime.Instance) {
	path := p.snapshotPath()
	start := time.Now()
	// The guest's free memory, zeroed, is not stored. A guest that fails
	// in compact is closed, and its snapshot fails below. When the server
	// stops, the snapshot is written as it is: no guest delays the end.
	compacted := false
	if p.ctx.Err() == nil {
		compacted = p.compactBeforeSnapshot(inst)
	}
	err := os.MkdirAll(filepath.Dir(path), 0o700)
	var n int64
	if err == nil {
		n, err = inst.SaveSnapshot(path)
	}
	if err != nil {
		p.snapshotFailed(path, err)
		return
	}
	p.env.metrics.snapshotted(time.Since(start))
	p.snapshotSaved(n, compacted)
	p.env.snapshots.fresh(path)
	p.status.setCondition(p.wc.Generation, ConditionSnapshotted, true, "Saved", "the guest's memory is kept while it is suspended")
	p.status.update(false, func(s *v1alpha1.WasmControllerStatus) { s.SnapshotBytes = n })
}

// snapshotFailed discards the snapshot at path, which the guest's memory
// could not be written to, and reports it. The status and the Event are
// read by tenants: they do not name the server's files, the log does.
func (p *instancePool) snapshotFailed(path string, err error) {
	p.logger.Error(err, "Cannot write the guest's snapshot; it will start afresh", "path", path)
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		p.logger.Error(rmErr, "Cannot remove the guest's stale snapshot; it will not be restored", "path", path)
		p.env.snapshots.stale(path)
	}
	const msg = "the guest's snapshot cannot be written; it starts afresh on its next wake"
	p.status.setCondition(p.wc.Generation, ConditionSnapshotted, false, "SnapshotFailed", msg)
	p.env.event(p.wc, "Warning", "SnapshotFailed", msg)
	p.status.update(false, func(s *v1alpha1.WasmControllerStatus) { s.SnapshotBytes = 0 })
}

// snapshotIdle suspends the idle instances of a controller that keeps
// snapshots, writing its snapshot, before the server stops.
func (p *instancePool) snapshotIdle() {
	if p.snapshotting() {
		p.suspendIdle()
	}
}

// restoreSnapshot resumes the guest from its snapshot, if it has one that
// is valid. A snapshot that is corrupt, truncated, from another module or
// otherwise unusable is discarded with its reason, and the guest starts
// afresh; a missing one is no news.
func (p *instancePool) restoreSnapshot(ctx context.Context, cfg wasmruntime.InstanceConfig) *wasmruntime.Instance {
	path := p.snapshotPath()
	if p.env.snapshots.isStale(path) {
		return nil
	}
	start := time.Now()
	inst, err := p.module.RestoreFile(ctx, cfg, path)
	switch {
	case err == nil:
		took := time.Since(start)
		p.policy.resumed(took)
		p.env.metrics.resumed("snapshot", took)
		return inst
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, wasmruntime.ErrStorage):
		// The module's code could not be read back, not the snapshot:
		// it is kept for the retry of the wake.
		return nil
	}
	p.logger.Info("Discarding the guest's snapshot; it starts afresh", "reason", err.Error())
	msg := "the guest's snapshot cannot be read; it starts afresh"
	if errors.Is(err, wasmruntime.ErrSnapshotInvalid) {
		msg = "the guest's snapshot is invalid; it starts afresh"
	}
	p.env.event(p.wc, "Warning", "SnapshotDiscarded", msg)
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		p.env.snapshots.stale(path)
	}
	p.status.update(false, func(s *v1alpha1.WasmControllerStatus) { s.SnapshotBytes = 0 })
	return nil
}

// removeOtherSnapshots deletes the controller's snapshots of other UIDs
// and generations, and reports the size of its own, if any.
func (p *instancePool) removeOtherSnapshots() {
	if p.env.snapshotRoot == "" {
		return
	}
	own := p.snapshotPath()
	entries, _ := os.ReadDir(filepath.Dir(own))
	removed := false
	for _, e := range entries {
		path := filepath.Join(filepath.Dir(own), e.Name())
		if path != own && strings.HasSuffix(e.Name(), snapshotSuffix) {
			removed = os.Remove(path) == nil || removed
		}
	}
	if removed {
		p.env.removeUnusedImages()
	}
	var size int64
	if fi, err := os.Stat(own); err == nil && p.snapshotting() && !p.env.snapshots.isStale(own) {
		size = wasmruntime.SnapshotDiskBytes(fi)
	} else if err == nil {
		_ = os.Remove(own) // snapshots were turned off
	}
	p.status.update(false, func(s *v1alpha1.WasmControllerStatus) { s.SnapshotBytes = size })
}

// removeSnapshots deletes every snapshot of a WasmController: it was deleted,
// or another replica runs it now. One that cannot be deleted is never
// restored: with the same UID and generation, it would bring back a guest's
// memory older than what ran elsewhere.
func (s *hostServices) removeSnapshots(namespace, name string) {
	if s.snapshotRoot == "" {
		return
	}
	dir := s.snapshotDir(namespace, name)
	if err := os.RemoveAll(dir); err != nil {
		klog.ErrorS(err, "Removing the snapshots of a WasmController; they will not be restored", "wasmController", klog.KRef(namespace, name))
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, snapshotSuffix) {
				s.snapshots.stale(path)
			}
			return nil
		})
		return
	}
	s.snapshots.forgetUnder(dir)
	s.removeUnusedImages()
}

// imageSweepEvery bounds how often removeUnusedImages reads every
// snapshot.
const imageSweepEvery = time.Minute

// removeUnusedImages removes the image files (the runtime's memory images
// of modules, which snapshots are deltas against) of the modules no longer
// loaded that no snapshot to be restored refers to. It reads the header of
// every snapshot: it runs where snapshots are removed, not at each wake.
//
// A sweep reads every snapshot's header, and tenants change and delete
// WasmControllers at will: sweeps run at most once per imageSweepEvery, a
// sweep asked for sooner runs when that has passed.
func (s *hostServices) removeUnusedImages() {
	if s.snapshotRoot == "" || s.images == nil {
		return
	}
	every := s.imageSweep.every
	if every == 0 {
		every = imageSweepEvery
	}
	now := s.clock.Now()
	s.imageSweep.mu.Lock()
	if due := s.imageSweep.last.Add(every); due.After(now) {
		s.imageSweep.mu.Unlock()
		// On the host's timer queue, which stops with the host; a sweep
		// already due keeps its time. The host waits for it at its end.
		s.timers.schedule(timerID{owner: s, kind: timerImageSweep}, due, func() {
			s.lingering.Go(s.removeUnusedImages)
		})
		return
	}
	s.imageSweep.last = now
	s.imageSweep.mu.Unlock()
	used := map[string]bool{}
	_ = filepath.WalkDir(s.snapshotRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(path, snapshotSuffix) || s.snapshots.isStale(path) {
			return nil
		}
		if digest, err := wasmruntime.SnapshotModule(path); err == nil {
			used[digest] = true
		}
		return nil
	})
	if n := s.images.RemoveUnusedImages(used); n > 0 {
		klog.V(2).InfoS("Removed the image files of modules no snapshot refers to", "files", n)
	}
}

// removeOrphanedSnapshots deletes the snapshots of WasmControllers deleted
// while the server was not running, and the temporary files of snapshots
// whose writing the server's end interrupted. A replica that shares the
// controllers with others removes them all: while it was not running,
// others ran its controllers, and its guests' memory is older than theirs.
func (h *Host) removeOrphanedSnapshots() {
	h.eachSnapshotDir(func(namespace, name string) {
		if _, err := h.lister.WasmControllers(namespace).Get(name); err != nil || h.shard != nil {
			h.removeSnapshots(namespace, name)
			return
		}
		h.removeSnapshotTemps(h.snapshotDir(namespace, name))
	})
	h.removeUnusedImages()
}

// eachSnapshotDir calls fn with the namespace and name of every
// WasmController that has a snapshot directory.
func (h *Host) eachSnapshotDir(fn func(namespace, name string)) {
	if h.snapshotRoot == "" {
		return
	}
	namespaces, _ := os.ReadDir(h.snapshotRoot)
	for _, ns := range namespaces {
		names, _ := os.ReadDir(filepath.Join(h.snapshotRoot, ns.Name()))
		for _, n := range names {
			fn(ns.Name(), n.Name())
		}
	}
}

// removeSnapshotTemps deletes, from a WasmController's snapshot directory,
// the temporary files of snapshots that were never completed: the runtime
// writes a snapshot to ".<name>.snap.<random>.tmp" and renames it.
func (h *Host) removeSnapshotTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !isSnapshotTemp(name) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			klog.ErrorS(err, "Removing the temporary file of an interrupted snapshot", "path", filepath.Join(dir, name))
		}
	}
}

// isSnapshotTemp says whether name is that of a snapshot's temporary file.
func isSnapshotTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") &&
		strings.Contains(name, snapshotSuffix+".")
}
