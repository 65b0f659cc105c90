package host

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// hostServices is what a controller needs from the host that runs it, and
// all it may reach of it: the shared parts every controller uses. The host
// owns them (Host embeds them) and outlives its controllers; a controller
// holds a pointer to them, never to the Host, so it cannot touch the map of
// controllers, the loaders or the configuration. Tests build them from the
// real parts (newScheduler, newTimerQueue…) without a Host.
type hostServices struct {
	clock clock.WithTickerAndDelayedExecution
	// scheduler runs reconciles within the global limit, fairly.
	scheduler *scheduler
	// timers hold every controller's resync, requeues and retries.
	timers *timerQueue
	// recorder sends Events about WasmControllers to the target cluster.
	recorder record.EventRecorder
	// metrics count the host's work; nil counts nothing.
	metrics *hostMetrics
	// dispatcher passes informer events to the watches of controllers;
	// nil without a target cluster.
	dispatcher *dispatcher

	// snapshotRoot holds the snapshots of suspended guests; empty turns
	// snapshots off.
	snapshotRoot string
	// snapshots remembers the snapshots that must not be restored.
	snapshots snapshotState
	// images removes the modules' image files no snapshot refers to
	// (removeUnusedImages); nil removes none.
	images *wasmruntime.Runtime

	// compactAfter is how long a resident guest is quiet after a
	// reconcile before its idle instances are compacted; not positive
	// turns that off.
	compactAfter time.Duration
	// compacting bounds the compactions that run at once across every
	// controller (its capacity); nil bounds none.
	compacting chan struct{}

	// stopping is set once the server stops: the idle guests of the
	// controllers it stops then still write their snapshots, so that a
	// restart restores them.
	stopping atomic.Bool
	// lingering counts work that outlives its starter and that shutdown
	// waits for: releases of what stopped controllers hold once
	// reconciles that ignored the stop return, and image sweeps.
	lingering sync.WaitGroup
	// imageSweep paces removeUnusedImages.
	imageSweep struct {
		mu   sync.Mutex
		last time.Time
		// every, when set, replaces imageSweepEvery, for tests.
		every time.Duration
	}
}

// event records an Event about a WasmController in the target cluster.
func (s *hostServices) event(wc *v1alpha1.WasmController, typ, reason, message string) {
	ref := wc.DeepCopy()
	ref.APIVersion, ref.Kind = v1alpha1.SchemeGroupVersion.String(), "WasmController"
	s.recorder.Event(ref, typ, reason, message)
}

// snapshotDir holds the snapshots of one WasmController, by namespace and
// name.
func (s *hostServices) snapshotDir(namespace, name string) string {
	return filepath.Join(s.snapshotRoot, namespace, name)
}
