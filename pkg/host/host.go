package host

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-base/metrics"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
	clientset "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned/scheme"
	listers "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/listers/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/sharding"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// watchSyncTimeout bounds how long a controller waits for its caches.
const watchSyncTimeout = 2 * time.Minute

// Config is what the host needs.
type Config struct {
	// Runtime runs the guests.
	Runtime *wasmruntime.Runtime
	// Controllers reads and writes WasmControllers (the server's loopback client).
	Controllers clientset.Interface
	// Cluster is the target cluster the guests reconcile; nil when the
	// server runs without one.
	Cluster *rest.Config
	// MaxRunningGuests bounds the reconciles running at once across every
	// controller; 0 means DefaultMaxRunningGuests.
	MaxRunningGuests int
	// Loaders is how many WasmControllers load at once; 0 means
	// DefaultLoaders.
	Loaders int
	// LoadsPerNamespace is how many of those one namespace may hold; 0
	// means DefaultLoadsPerNamespace.
	LoadsPerNamespace int
	// Clock drives resyncs, requeues, retries and the coalesced status
	// writes; nil means the real clock.
	Clock clock.WithTickerAndDelayedExecution
	// SnapshotDir holds the snapshots of suspended guests; empty turns
	// snapshots off.
	SnapshotDir string
	// Ceilings bound the limits of every controller the host runs; a zero
	// field has no ceiling.
	Ceilings validation.Ceilings
	// WakeRules compiles the controllers' wake rules, as stored: the
	// compiler admission checks them with. nil builds one of the default
	// compatibility version.
	WakeRules *wakerule.Compiler
	// Modules says how modules are fetched and where they are stored; its
	// Store is required. New sets its Cluster to the target cluster, where
	// ConfigMaps and image pull Secrets are read as the ServiceAccounts.
	// New sets its Metrics.
	Modules modules.FetcherConfig
	// Metrics is the registry the host registers its metrics on, with those
	// of the guests' caches and requests and of the module store and
	// fetches; the server serves it. nil keeps them on a registry of the
	// host's own, which nobody serves.
	Metrics metrics.KubeRegistry
	// CollectGarbage, when set, is called once the host falls quiet after
	// work with enough garbage on the heap (see reclaimer); nil collects
	// nothing. The heap is the process's, so whoever owns the process
	// decides: the server passes runtime.GC.
	CollectGarbage func()
	// CompactAfter is how long a resident guest must be quiet after a
	// reconcile before the host compacts its idle instances (the guest
	// zeroes its free memory and the host gives the zero pages back;
	// runtime.Instance.Compact); 0 means DefaultCompactAfter, negative
	// never. Guests are compacted before their snapshots are written
	// either way.
	CompactAfter time.Duration
	// Sharding, when set, runs only the WasmControllers this replica owns
	// among the replicas of its group (package sharding), whose Leases it
	// keeps in the target cluster: Cluster is required. OnFenced is the
	// host's own. nil runs every WasmController.
	Sharding *sharding.Options
}

// Host runs every WasmController the server stores.
type Host struct {
	// hostServices are the parts the host shares with its controllers.
	hostServices

	cfg       Config
	compiler  *wakerule.Compiler
	kube      kubernetes.Interface
	mapper    meta.ResettableRESTMapper
	informers *proxy.InformerPool
	// reclaimer collects the garbage of the work once the host is quiet.
	reclaimer *reclaimer
	// guestRequests count the guests' requests.
	guestRequests *proxy.Metrics
	// authorizer answers, with a short memory, whether a guest's
	// ServiceAccount may read what it asks the cache for.
	authorizer *proxy.Authorizer
	// broadcaster sends the recorder's Events; nil without a cluster.
	broadcaster record.EventBroadcaster
	fetcher     *modules.Fetcher

	lister listers.WasmControllerLister
	queue  workqueue.TypedRateLimitingInterface[string]
	// loads spreads the loaders over the namespaces.
	loads *loadGate
	// syncKey loads one key: (*Host).sync but in tests.
	syncKey func(ctx context.Context, key string) error

	// accessChanged is signalled when RBAC changed, to check the
	// controllers' watches again.
	accessChanged chan struct{}

	// life is the host's run, from Start to Stop.
	life lifecycle
	// shard says which WasmControllers this replica runs; nil runs all.
	shard *shard

	mu          sync.Mutex
	controllers map[string]*controller
	// refused holds the controllers whose last load was refused because
	// their ServiceAccount may not read what they watch.
	refused map[string]struct{}
}

// New builds a host. It starts nothing until Start.
func New(cfg Config) (*Host, error) {
	if cfg.Modules.Store == nil {
		return nil, errors.New("host: a module store is required")
	}
	var err error
	compiler := cfg.WakeRules
	if compiler == nil {
		if compiler, err = wakerule.NewCompiler(nil); err != nil {
			return nil, err
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.CompactAfter == 0 {
		cfg.CompactAfter = DefaultCompactAfter
	}
	h := &Host{cfg: cfg, compiler: compiler, controllers: map[string]*controller{}, refused: map[string]struct{}{},
		accessChanged: make(chan struct{}, 1),
		hostServices: hostServices{clock: cfg.Clock, timers: newTimerQueue(cfg.Clock), scheduler: newScheduler(cfg.MaxRunningGuests, cfg.Clock),
			recorder: &record.FakeRecorder{}, snapshotRoot: cfg.SnapshotDir, compactAfter: cfg.CompactAfter,
			compacting: make(chan struct{}, maxCompactions), images: cfg.Runtime},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 5*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "wasmcontrollers"}),
		reclaimer: newReclaimer(cfg.Clock, cfg.CollectGarbage), loads: newLoadGate(cfg.LoadsPerNamespace)}
	h.syncKey = h.sync
	h.scheduler.onIdle = h.reclaimer.notifyQuiet
	if cfg.Cluster != nil {
		if h.kube, err = kubernetes.NewForConfig(cfg.Cluster); err != nil {
			return nil, err
		}
		dyn, err := dynamic.NewForConfig(cfg.Cluster)
		if err != nil {
			return nil, err
		}
		disco, err := discovery.NewDiscoveryClientForConfig(cfg.Cluster)
		if err != nil {
			return nil, err
		}
		h.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
		h.informers = proxy.NewInformerPool(dyn)
		h.dispatcher = newDispatcher(h.informers)
		h.authorizer = proxy.NewAuthorizer(h.kube)
		h.broadcaster = newEventBroadcaster(h.kube)
		h.recorder = h.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "wasm-apiserver"})
	}
	if cfg.Sharding != nil {
		if h.kube == nil {
			return nil, errors.New("host: sharding needs a target cluster (--kubeconfig) to hold the replicas' Leases")
		}
		if h.shard, err = newShard(h.kube, *cfg.Sharding, h.fence); err != nil {
			return nil, err
		}
	}
	cfg.Modules.Cluster = cfg.Cluster
	if cfg.Modules.Metrics, err = h.registerMetrics(cfg.Metrics); err != nil {
		return nil, err
	}
	h.fetcher = modules.NewFetcher(cfg.Modules)
	return h, nil
}

// enqueueOnSpecChange passes on updates that change the spec (the
// generation). The host's own status writes change only the status: passing
// them on would reload a controller that failed to load, which writes its
// status again, without end.
func enqueueOnSpecChange(old, obj any, enqueue func(any)) {
	o, ok1 := old.(*v1alpha1.WasmController)
	n, ok2 := obj.(*v1alpha1.WasmController)
	if ok1 && ok2 && o.Generation == n.Generation {
		return
	}
	enqueue(obj)
}

// quiet says whether the host loads no controller and runs no reconcile,
// nor has any waiting.
func (h *Host) quiet() bool {
	return h.queue.Len() == 0 && h.scheduler.idle()
}

// sync brings the running controller for key in line with its spec.
func (h *Host) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	wc, err := h.lister.WasmControllers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		h.noteRefusal(key, nil)
		h.stopController(key)
		h.removeSnapshots(ns, name)
		h.metrics.forget(key)
		h.guestRequests.ForgetController(key)
		return nil
	}
	if err != nil {
		return err
	}
	h.mu.Lock()
	running := h.controllers[key]
	h.mu.Unlock()
	if running != nil && running.wc.Generation == wc.Generation && running.wc.UID == wc.UID && !running.revoked.Load() {
		return nil
	}
	h.stopController(key)
	wc = wc.DeepCopy()
	if wc.Spec.Paused {
		status := h.newStatusWriter(wc)
		status.update(true, func(s *v1alpha1.WasmControllerStatus) {
			s.Phase = v1alpha1.PhasePaused
			s.ObservedGeneration = wc.Generation
			s.MemoryBytes = 0
		})
		status.setCondition(wc.Generation, v1alpha1.ConditionReady, false, "Paused", "spec.paused is set")
		status.flush(ctx)
		return nil
	}
	c, err := h.start(ctx, wc)
	h.noteRefusal(key, err)
	if err != nil {
		if isPermanent(err) {
			return nil // reported in status; waits for a spec change
		}
		return err
	}
	h.mu.Lock()
	stopping := h.stopping.Load()
	if !stopping {
		h.controllers[key] = c
	}
	h.mu.Unlock()
	if stopping { // loaded while the host stopped the others
		c.stop()
	}
	return nil
}

// newStatusWriter returns the writer of wc's status, which names this
// replica as its owner ("" without sharding).
func (h *Host) newStatusWriter(wc *v1alpha1.WasmController) *statusWriter {
	w := newStatusWriter(h.cfg.Controllers, h.clock, wc)
	w.status.Owner = h.shard.identity()
	return w
}

func (h *Host) stopController(key string) {
	h.mu.Lock()
	c := h.controllers[key]
	delete(h.controllers, key)
	h.mu.Unlock()
	if c != nil {
		c.stop()
		klog.InfoS("Stopped WasmController", "wasmController", key)
	}
}
