package host

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
)

// shard is this replica's share of the WasmControllers when replicas share
// them (package sharding): the View it last applied, and the loads under
// way, which a new View that gives their key away cancels and waits for.
// A host without a shard runs every WasmController.
type shard struct {
	members *sharding.Membership
	// applying serializes the application of Views: the host's and the
	// fence's, so that the last one applied is never older than a fence.
	applying sync.Mutex

	mu    sync.Mutex
	view  *sharding.View
	loads map[string]*shardLoad
}

// shardLoad is one key's load under way.
type shardLoad struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// newShard returns the shard of replica opts.Identity, whose Leases live in
// the target cluster client reaches; onFenced must stop every controller.
// Until its first View it owns nothing.
func newShard(client kubernetes.Interface, opts sharding.Options, onFenced func()) (*shard, error) {
	opts.OnFenced = onFenced
	m, err := sharding.New(client, opts)
	if err != nil {
		return nil, err
	}
	return &shard{members: m, view: &sharding.View{}, loads: map[string]*shardLoad{}}, nil
}

// identity is the replica's id, status.owner of what it runs; "" without
// sharding.
func (s *shard) identity() string {
	if s == nil {
		return ""
	}
	return s.members.Identity()
}

// begin says whether the replica may load key now and, if so, records the
// load until end is called: a View applied meanwhile that gives key away
// cancels ctx and waits for end. The caller serializes the loads of a key
// (the host's queue does). Without sharding every key may load.
func (s *shard) begin(ctx context.Context, key string) (_ context.Context, end func(), owned bool) {
	if s == nil {
		return ctx, func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.view.Owns(key) {
		return ctx, func() {}, false
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &shardLoad{cancel: cancel, done: make(chan struct{})}
	s.loads[key] = l
	return ctx, func() {
		s.mu.Lock()
		delete(s.loads, key)
		s.mu.Unlock()
		cancel()
		close(l.done)
	}, true
}

// settle makes v the View loads are checked against, then cancels the
// loads of keys v gives away and waits for them.
func (s *shard) settle(v *sharding.View) {
	s.mu.Lock()
	s.view = v
	var cancelled []*shardLoad
	for key, l := range s.loads {
		if !v.Owns(key) {
			l.cancel()
			cancelled = append(cancelled, l)
		}
	}
	s.mu.Unlock()
	for _, l := range cancelled {
		<-l.done
	}
}

// followShard applies each new View of the group until ctx is done: it
// stops the controllers the View gives away, then releases them, then
// loads those it gains. A controller that moves here reconciles every key
// once when it starts, so what changed during the handoff is not lost.
func (h *Host) followShard(ctx context.Context) {
	s := h.shard
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.members.Changes():
		}
		s.applying.Lock()
		v := s.members.View() // read under applying: never older than a fence
		stopped := h.applyView(v)
		s.members.Released(v)
		s.applying.Unlock()
		gained := h.enqueueOwned(v)
		logger := klog.Background()
		if stopped == 0 && gained == 0 {
			logger = logger.V(2)
		}
		logger.Info("Applied the replicas' view", "replica", v.Self(), "live", v.Live(),
			"members", v.Members(), "stopped", stopped, "loading", gained)
	}
}

// fence stops every controller, for the replica lost its Lease: others may
// start them once the lease duration has passed. It returns once they are
// stopped.
func (h *Host) fence() {
	s := h.shard
	s.applying.Lock()
	defer s.applying.Unlock()
	stopped := h.applyView(&sharding.View{}) // owns nothing
	klog.InfoS("Fenced: stopped every WasmController", "replica", s.identity(), "stopped", stopped)
}

// applyView stops every controller v does not give this replica, loads
// included, and returns how many it stopped. Once it returns, the replica
// runs nothing else.
func (h *Host) applyView(v *sharding.View) int {
	h.shard.settle(v)
	h.mu.Lock()
	var lost []string
	for key := range h.controllers {
		if !v.Owns(key) {
			lost = append(lost, key)
		}
	}
	h.mu.Unlock()
	var stops sync.WaitGroup
	for _, key := range lost {
		stops.Go(func() { h.handOff(key) })
	}
	stops.Wait()
	h.removeUnownedSnapshots(v)
	return len(lost)
}

// removeUnownedSnapshots removes the snapshots of every WasmController v
// does not give this replica, running here or not (a paused controller, or
// one whose load failed, keeps its snapshots but runs nothing): the next
// owner starts the guest afresh, and so does this replica when the key
// comes back, for the guest's memory here would be older than what ran
// elsewhere meanwhile.
func (h *Host) removeUnownedSnapshots(v *sharding.View) {
	h.eachSnapshotDir(func(namespace, name string) {
		if !v.Owns(namespace + "/" + name) {
			h.removeSnapshots(namespace, name)
		}
	})
}

// handOff stops the controller of key, which another replica runs next;
// applyView then removes its snapshots.
func (h *Host) handOff(key string) {
	h.mu.Lock()
	_, running := h.controllers[key]
	h.mu.Unlock()
	if !running {
		return
	}
	h.stopController(key)
	h.metrics.forget(key)
	h.guestRequests.ForgetController(key)
	klog.InfoS("Handed off WasmController", "wasmController", key, "replica", h.shard.identity())
}

// enqueueOwned loads the WasmControllers v gives this replica that it does
// not run yet, and returns how many.
func (h *Host) enqueueOwned(v *sharding.View) int {
	if !v.Live() {
		return 0
	}
	wcs, err := h.lister.List(labels.Everything())
	if err != nil {
		return 0
	}
	n := 0
	for _, wc := range wcs {
		key := wc.Namespace + "/" + wc.Name
		h.mu.Lock()
		_, running := h.controllers[key]
		h.mu.Unlock()
		if !running && v.Owns(key) {
			h.queue.Add(key)
			n++
		}
	}
	return n
}

// startShard runs the replica's membership and follows its Views until ctx
// is done; members, the membership's run, must outlive the controllers, so
// it ends on its own context, which the caller cancels once they stopped.
func (h *Host) startShard(ctx, membersCtx context.Context, members, workers *sync.WaitGroup) {
	if h.shard == nil {
		return
	}
	members.Go(func() {
		if err := h.shard.members.Run(membersCtx); err != nil {
			klog.ErrorS(err, "Replica membership ended")
		}
	})
	workers.Go(func() { h.followShard(ctx) })
}
