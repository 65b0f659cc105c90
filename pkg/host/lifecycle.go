package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	informers "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/informers/externalversions"
)

// lifecycle is the host's run: Start begins it on a goroutine of its own,
// Stop ends it and waits for that goroutine.
type lifecycle struct {
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
	// synced is set once the cache of WasmControllers has synced and the
	// host loads them.
	synced atomic.Bool
}

// Start runs the host on a goroutine of its own: it watches WasmControllers
// and runs them until Stop is called or ctx is done. A second Start, or one
// after Stop, does nothing.
func (h *Host) Start(ctx context.Context) {
	l := &h.life
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	l.started, l.cancel, l.done = true, cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		h.run(ctx)
	}()
}

// Stop stops the host and waits until it has stopped: in-flight
// reconciles cancelled, the idle guests of controllers that keep
// snapshots snapshotted, every controller's status written for the last
// time, Events sent, informers stopped and every goroutine the host
// started returned, but for reconciles that ignored their cancellation
// longer than the host waits for them.
//
// Call it while the server still serves: the statuses are written through
// it.
//
// # Errors
//
// When ctx is done first, Stop returns an error and the host goes on
// stopping on its own. Stop before Start returns nil, and the host never
// starts.
func (h *Host) Stop(ctx context.Context) error {
	l := &h.life
	l.mu.Lock()
	l.stopped = true
	started, cancel, done := l.started, l.cancel, l.done
	l.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("host: still stopping: %w", context.Cause(ctx))
	}
}

// Ready says whether the host runs WasmControllers: started, not stopped,
// and its cache of WasmControllers synced. The error says what it waits for.
func (h *Host) Ready() error {
	l := &h.life
	l.mu.Lock()
	started, stopped := l.started, l.stopped
	l.mu.Unlock()
	switch {
	case stopped:
		return errors.New("host: stopped")
	case !started:
		return errors.New("host: not started")
	case !l.synced.Load():
		return errors.New("host: waiting for the cache of WasmControllers to sync")
	}
	return nil
}

// run watches WasmControllers and runs them until ctx is done, then stops
// every controller and what the host started, and waits for them.
func (h *Host) run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	// Deferred calls run last first: the informers of guests, then Events,
	// then the host's own informers.
	factory := informers.NewSharedInformerFactory(h.cfg.Controllers, 10*time.Minute)
	defer factory.Shutdown()
	if h.broadcaster != nil {
		defer h.broadcaster.Shutdown() // after the controllers' last Events
	}
	if h.informers != nil {
		defer h.informers.Close()
	}
	inf := factory.Controllers().V1alpha1().WasmControllers()
	h.lister = inf.Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			h.queue.Add(key)
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(old, obj any) { enqueueOnSpecChange(old, obj, enqueue) },
		DeleteFunc: enqueue,
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		h.queue.ShutDown()
		return
	}
	h.removeOrphanedSnapshots()
	h.life.synced.Store(true)
	klog.InfoS("Host is running WasmControllers", "targetCluster", h.cfg.Cluster != nil,
		"maxRunningGuests", h.scheduler.workers, "loadsPerNamespace", h.loads.perNamespace)
	var loaders, workers, members sync.WaitGroup
	// The membership deletes its Lease when it ends, which hands every
	// controller to the others at once: it ends after they stopped.
	membersCtx, stopMembers := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopMembers()
		members.Wait()
	}()
	h.startShard(ctx, membersCtx, &members, &workers)
	workers.Go(func() { h.timers.run(ctx) })
	workers.Go(func() { h.scheduler.run(ctx) })
	workers.Go(func() { h.reclaimer.run(ctx, h.quiet) })
	if h.kube != nil {
		workers.Go(func() { h.recheckAccessOnChange(ctx) })
	}
	h.runLoaders(ctx, &loaders)
	<-ctx.Done()
	h.shutdown(&loaders, &workers)
}
