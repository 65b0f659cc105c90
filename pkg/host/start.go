package host

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/proxy"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// Reasons of a module that does not load.
const (
	// ReasonInvalidModule: the module cannot run here; it waits for a
	// change of the spec.
	ReasonInvalidModule = "InvalidModule"
	// ReasonReconcilerNotFound: the module holds no reconciler of the name
	// spec.module.reconciler selects (or, left empty, no default one); it
	// waits for a change of the spec.
	ReasonReconcilerNotFound = "ReconcilerNotFound"
	// ReasonStorageFailed: the server's own storage (its module store,
	// compilation cache, the module bytes it keeps) failed, not the
	// module; the load, or the wake, is retried until the storage works.
	ReasonStorageFailed = modules.ReasonStorageFailed
)

// start loads a WasmController and runs it. A failure is reported in its
// status; the returned error says whether to retry.
func (h *Host) start(ctx context.Context, wc *v1alpha1.WasmController) (*controller, error) {
	status := h.newStatusWriter(wc)
	fail := func(condition, reason string, err error) error {
		if ctx.Err() != nil {
			// Cut short by the host's stop: what failed may be the
			// stop itself, and the next start reports what is wrong.
			return err
		}
		// Bounded as reconcile failures are: a module's own bytes (an
		// import's name, a trap's frames) may be in it.
		msg := compactError(err)
		status.update(true, func(s *v1alpha1.WasmControllerStatus) {
			s.Phase = v1alpha1.PhaseFailed
			s.ObservedGeneration = wc.Generation
			s.LastError = msg
			s.MemoryBytes = 0
		})
		status.setCondition(wc.Generation, condition, false, reason, msg)
		status.setCondition(wc.Generation, v1alpha1.ConditionReady, false, reason, msg)
		status.flush(ctx)
		h.event(wc, "Warning", reason, msg)
		return err
	}
	if h.cfg.Cluster == nil {
		return nil, fail(v1alpha1.ConditionWatchesReady, modules.ReasonNoTargetCluster, &modules.Error{Permanent: true,
			Reason:  modules.ReasonNoTargetCluster,
			Message: "wasm-apiserver runs without a target cluster (--kubeconfig): controllers cannot watch or reconcile"})
	}
	status.update(true, func(s *v1alpha1.WasmControllerStatus) {
		s.Phase = v1alpha1.PhaseLoading
		s.ObservedGeneration = wc.Generation
	})
	status.flush(ctx)

	if err := h.checkCeilings(wc); err != nil {
		reason, _ := isSpecError(err)
		return nil, fail(v1alpha1.ConditionReady, reason, err)
	}

	watches := make([]*watch, 0, len(wc.Spec.Watches))
	for i := range wc.Spec.Watches {
		w, err := h.compileWatch(i, &wc.Spec.Watches[i])
		if err != nil {
			reason, condition := "WatchFailed", v1alpha1.ConditionWatchesReady
			if _, ok := errors.AsType[*wakerule.Error](err); ok {
				reason, condition = "InvalidWakeRule", v1alpha1.ConditionWakeRulesValid
			}
			return nil, fail(condition, reason, fmt.Errorf("spec.watches[%d]: %w", i, err))
		}
		watches = append(watches, w)
	}
	status.setCondition(wc.Generation, v1alpha1.ConditionWakeRulesValid, true, "Compiled", "every wake rule compiled")
	// Before anything is fetched or subscribed: a watch the ServiceAccount
	// may not read gets no informer event, and costs no module load.
	if err := h.authorizeWatches(ctx, wc, watches); err != nil {
		reason := "AuthorizationFailed"
		if isForbiddenWatch(err) {
			reason = ReasonWatchForbidden
		}
		return nil, fail(v1alpha1.ConditionWatchesReady, reason, err)
	}

	fetched, err := h.fetcher.Fetch(ctx, wc)
	if err != nil {
		return nil, fail(v1alpha1.ConditionModuleLoaded, modules.ReasonOf(err), err)
	}
	module, err := h.cfg.Runtime.Load(ctx, fetched.Wasm)
	if err != nil {
		fetched.Release()
		reason := ReasonInvalidModule
		if errors.Is(err, wasmruntime.ErrStorage) {
			// The server's disk, not the module: retried. Its paths are
			// the server's business, not the tenant's.
			klog.ErrorS(err, "Loading a module failed on the server's storage", "wasmController", klog.KObj(wc))
			reason, err = ReasonStorageFailed, errors.New("the server's storage failed while loading the module; "+
				"the load is retried (the server's log says why)")
		}
		return nil, fail(v1alpha1.ConditionModuleLoaded, reason, err)
	}
	c := newController(&h.hostServices, wc, module, status)
	c.lease = fetched.Lease()
	if err := module.CheckMemoryLimit(c.pool.cfg.MemoryLimit); err != nil {
		c.stop()
		return nil, fail(v1alpha1.ConditionModuleLoaded, ReasonMemoryLimitTooLow, fmt.Errorf("spec.limits.memory: %w", err))
	}
	if err := h.checkReconciler(ctx, c, module); err != nil {
		c.stop()
		return nil, fail(v1alpha1.ConditionModuleLoaded, ReasonReconcilerNotFound, fmt.Errorf("spec.module.reconciler: %w", err))
	}
	c.pool.removeOtherSnapshots()
	status.update(true, func(s *v1alpha1.WasmControllerStatus) {
		s.ModuleDigest, s.ResolvedImage = module.Digest, fetched.ResolvedImage
	})
	loaded := fmt.Sprintf("%d bytes, %s", module.Size, module.Digest)
	if fetched.ResolvedImage != "" {
		loaded += " from " + fetched.ResolvedImage
	}
	status.setCondition(wc.Generation, v1alpha1.ConditionModuleLoaded, true, "Loaded", loaded)
	h.reportCompiledBudget(status, wc, module)

	apiServer, err := proxy.NewPassthrough(h.cfg.Cluster, wc.Namespace, wc.Spec.ServiceAccountName)
	if err != nil {
		c.stop()
		return nil, fail(v1alpha1.ConditionReady, "ClientFailed", err)
	}
	c.watches = watches

	for _, w := range c.watches {
		sub, err := h.dispatcher.subscribe(c, w)
		if err != nil {
			c.stop()
			return nil, fail(v1alpha1.ConditionWatchesReady, "WatchFailed", err)
		}
		c.subscriptions = append(c.subscriptions, sub)
	}
	for _, s := range c.subscriptions {
		if err := proxy.WaitForSync(ctx, s.inf, watchSyncTimeout); err != nil {
			c.stop()
			return nil, fail(v1alpha1.ConditionWatchesReady, "WatchFailed", fmt.Errorf("spec.watches[%d] %s: %w", s.w.index, s.w.key, err))
		}
	}
	// Every key once, whether or not wake rules would pass its object:
	// what changed while nothing watched is reconciled now.
	c.requestWakeAll()
	status.setCondition(wc.Generation, v1alpha1.ConditionWatchesReady, true, "Synced", "every watch's cache has synced")
	cached := make([]proxy.CachedWatch, 0, len(c.watches))
	for _, w := range c.watches {
		cached = append(cached, proxy.CachedWatch{Key: w.key, Kind: w.kind, Labels: w.labels, Fields: w.fields})
	}
	// The subscriptions hold the informers the view reads until c stops.
	c.pool.cfg.API = proxy.NewCacheView(klog.KObj(wc).String(), proxy.ServiceAccountUser(wc.Namespace, wc.Spec.ServiceAccountName),
		cached, h.informers, h.authorizer, apiServer, h.guestRequests)

	status.start(c.ctx)
	c.scheduleResync()
	// Loaded, with no instance until the first wake: what an earlier load
	// (or process) counted is not this one's.
	status.update(true, func(s *v1alpha1.WasmControllerStatus) {
		s.Phase = v1alpha1.PhaseSuspended
		s.ObservedGeneration = wc.Generation
		s.LastError = ""
		s.MemoryBytes, s.Wakes = 0, 0
	})
	h.scheduler.start(c)
	status.setCondition(wc.Generation, v1alpha1.ConditionReady, true, "Running", "the controller wakes on its events")
	if !runningAsRecorded(wc, module.Digest) {
		h.event(wc, "Normal", "Loaded", fmt.Sprintf("module %s loaded, %d watches", module.Digest, len(c.watches)))
	}
	klog.InfoS("Started WasmController", "wasmController", klog.KObj(wc), "generation", wc.Generation, "module", module.Digest)
	return c, nil
}

// compileWatch resolves a watch's kind to its resource and compiles it.
func (h *Host) compileWatch(i int, w *v1alpha1.Watch) (*watch, error) {
	gv, err := schema.ParseGroupVersion(w.APIVersion)
	if err != nil {
		return nil, err
	}
	mapping, err := h.restMapping(w.APIVersion, gv.WithKind(w.Kind).GroupKind(), gv.Version)
	if err != nil {
		return nil, err
	}
	cw, err := compileWatch(i, w, mapping.Resource, mapping.Scope.Name() == meta.RESTScopeNameNamespace, h.compiler)
	if err != nil || w.EnqueueOwner == nil {
		return cw, err
	}
	owner, err := h.ownerKind(w.EnqueueOwner)
	if err != nil {
		return nil, fmt.Errorf("enqueueOwner: %w", err)
	}
	cw.owner = owner
	return cw, nil
}

// ownerKind resolves an enqueueOwner's kind in the cluster, whose scope
// says how its objects are keyed.
func (h *Host) ownerKind(o *v1alpha1.OwnerKind) (*ownerMapping, error) {
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	if err != nil {
		return nil, err
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: o.Kind}
	mapping, err := h.restMapping(o.APIVersion, gk)
	if err != nil {
		return nil, err
	}
	return &ownerMapping{kind: gk, all: o.AllOwners, namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

// restMapping maps a kind named as apiVersion to its resource, asking the
// cluster's discovery again once if the kind is unknown: a CRD may have
// been installed since.
func (h *Host) restMapping(apiVersion string, gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	mapping, err := h.mapper.RESTMapping(gk, versions...)
	if meta.IsNoMatchError(err) {
		h.mapper.Reset()
		mapping, err = h.mapper.RESTMapping(gk, versions...)
	}
	if err != nil {
		return nil, fmt.Errorf("kind %s %s is not served by the cluster: %w", apiVersion, gk.Kind, err)
	}
	return mapping, nil
}

// isPermanent says whether a load error waits for a spec change. A failure
// of the server's storage never does, whatever it wraps (the compiler's
// error when the compilation cache fails): it is retried until the storage
// works again.
func isPermanent(err error) bool {
	if errors.Is(err, wasmruntime.ErrStorage) || modules.ReasonOf(err) == modules.ReasonStorageFailed {
		return false
	}
	var abiErr *wasmruntime.ABIError
	_, spec := isSpecError(err)
	return spec || modules.IsPermanent(err) || errors.As(err, &abiErr) || errors.Is(err, wasmruntime.ErrMemoryLimit) ||
		errors.Is(err, wasmruntime.ErrReconcilerNotFound)
}

// checkReconciler checks, at load, that the module holds the reconciler
// the controller selects, so that a name it does not hold is reported on
// the status once rather than failing every wake. The runtime asks a bundle
// once per reconciler, whatever the number of its controllers. Only that
// answer fails the load: an instance that cannot start for another reason
// (its initialization traps or outgrows the memory limit) is reported by
// the wake that starts it, as for any module.
func (h *Host) checkReconciler(ctx context.Context, c *controller, module *wasmruntime.Module) error {
	err := module.CheckReconciler(ctx, c.pool.cfg)
	if err == nil || errors.Is(err, wasmruntime.ErrReconcilerNotFound) {
		return err
	}
	c.logger.V(2).Info("Cannot start an instance to check the module's reconciler; the first wake reports why", "error", compactError(err))
	return nil
}

// runningAsRecorded says whether the controller's status, as it was before
// this start, already records this load: Ready, with the module of this
// digest loaded at this generation. A restart of the server, a move between
// replicas or a reload after an RBAC check then starts the controller again
// without announcing it again: its Loaded Event is for a change (a new
// generation, another module, a recovery), and a server restarted with 1,000
// controllers would otherwise send 1,000 of them.
func runningAsRecorded(wc *v1alpha1.WasmController, digest string) bool {
	recorded := func(typ string) bool {
		c := meta.FindStatusCondition(wc.Status.Conditions, typ)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == wc.Generation
	}
	return wc.Status.ModuleDigest == digest && recorded(v1alpha1.ConditionModuleLoaded) && recorded(v1alpha1.ConditionReady)
}
