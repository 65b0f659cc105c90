package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// snapshotSuffix ends the name of every snapshot file.
const snapshotSuffix = ".snap"

// snapshotting says whether the controller snapshots its guest when it
// suspends it.
func (c *controller) snapshotting() bool {
	return c.wc.Spec.Suspend.Snapshot && c.host.cfg.SnapshotDir != ""
}

// snapshotDir holds the snapshots of one WasmController, by namespace and
// name.
func (h *Host) snapshotDir(namespace, name string) string {
	return filepath.Join(h.cfg.SnapshotDir, namespace, name)
}

// snapshotPath is the snapshot of this controller: a file per UID and
// generation, so that neither a WasmController created again under the
// same name nor a changed spec (whose env the guest read at init) restores
// an older guest's memory. The runtime ties it to the module digest too.
func (c *controller) snapshotPath() string {
	return filepath.Join(c.host.snapshotDir(c.wc.Namespace, c.wc.Name),
		fmt.Sprintf("%s-%d%s", c.wc.UID, c.wc.Generation, snapshotSuffix))
}

// saveSnapshot writes the instance's snapshot before it is closed. A
// failure loses only the guest's memory, which level-based reconciling
// does not depend on: it is logged, and the next wake starts afresh.
func (c *controller) saveSnapshot(inst *wasmruntime.Instance) {
	path := c.snapshotPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		c.logger.Error(err, "Cannot write the guest's snapshot; it will start afresh")
		return
	}
	start := time.Now()
	n, err := inst.SaveSnapshot(path)
	if err != nil {
		c.logger.Error(err, "Cannot write the guest's snapshot; it will start afresh")
		_ = os.Remove(path)
		n = 0
	} else {
		snapshotDuration.Observe(time.Since(start).Seconds())
	}
	c.status.update(false, func(s *v1alpha1.WasmControllerStatus) { s.SnapshotBytes = n })
}

// snapshotIdle suspends the idle instances of a controller that keeps
// snapshots, writing its snapshot, before the server stops.
func (c *controller) snapshotIdle() {
	if c.snapshotting() {
		c.suspendIdleInstances()
	}
}

// restoreSnapshot resumes the guest from its snapshot, if it has one that
// is valid. A snapshot that is corrupt, truncated, from another module or
// otherwise unusable is discarded with its reason, and the guest starts
// afresh; a missing one is no news.
func (c *controller) restoreSnapshot(ctx context.Context, cfg wasmruntime.InstanceConfig) *wasmruntime.Instance {
	path := c.snapshotPath()
	start := time.Now()
	inst, err := c.module.RestoreFile(ctx, cfg, path)
	switch {
	case err == nil:
		took := time.Since(start)
		c.predict.resumed(took)
		resumeDuration.WithLabelValues("snapshot").Observe(took.Seconds())
		return inst
	case errors.Is(err, os.ErrNotExist):
		return nil
	}
	c.logger.Info("Discarding the guest's snapshot; it starts afresh", "reason", err.Error())
	c.host.event(c.wc, "Warning", "SnapshotDiscarded", fmt.Sprintf("the guest starts afresh: %v", err))
	_ = os.Remove(path)
	c.status.update(false, func(s *v1alpha1.WasmControllerStatus) { s.SnapshotBytes = 0 })
	return nil
}

// removeOtherSnapshots deletes the controller's snapshots of other UIDs
// and generations, and reports the size of its own, if any.
func (c *controller) removeOtherSnapshots() {
	if c.host.cfg.SnapshotDir == "" {
		return
	}
	own := c.snapshotPath()
	entries, _ := os.ReadDir(filepath.Dir(own))
	for _, e := range entries {
		path := filepath.Join(filepath.Dir(own), e.Name())
		if path != own && strings.HasSuffix(e.Name(), snapshotSuffix) {
			_ = os.Remove(path)
		}
	}
	var size int64
	if fi, err := os.Stat(own); err == nil && c.snapshotting() {
		size = fi.Size()
	} else if err == nil {
		_ = os.Remove(own) // snapshots were turned off
	}
	c.status.update(false, func(s *v1alpha1.WasmControllerStatus) { s.SnapshotBytes = size })
}

// removeSnapshots deletes every snapshot of a deleted WasmController.
func (h *Host) removeSnapshots(namespace, name string) {
	if h.cfg.SnapshotDir == "" {
		return
	}
	if err := os.RemoveAll(h.snapshotDir(namespace, name)); err != nil {
		klog.ErrorS(err, "Removing the snapshots of a deleted WasmController", "wasmController", klog.KRef(namespace, name))
	}
}

// removeOrphanedSnapshots deletes the snapshots of WasmControllers deleted
// while the server was not running.
func (h *Host) removeOrphanedSnapshots() {
	if h.cfg.SnapshotDir == "" {
		return
	}
	namespaces, _ := os.ReadDir(h.cfg.SnapshotDir)
	for _, ns := range namespaces {
		names, _ := os.ReadDir(filepath.Join(h.cfg.SnapshotDir, ns.Name()))
		for _, n := range names {
			if _, err := h.lister.WasmControllers(ns.Name()).Get(n.Name()); err != nil {
				h.removeSnapshots(ns.Name(), n.Name())
			}
		}
	}
}
