package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/abi"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

// wakeKey is one reconcile key of a controller.
type wakeKey struct {
	Namespace, Name string
}

func (k wakeKey) String() string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// controller runs one WasmController at one generation.
type controller struct {
	host   *Host
	wc     *v1alpha1.WasmController
	module *wasmruntime.Module
	// fetched keeps the module's bytes in the module store while it runs.
	fetched *modules.Module
	api     wasmruntime.APIHandler
	status  *statusWriter
	logger  klog.Logger

	watches       []*watch
	registrations []registration

	queue   workqueue.TypedRateLimitingInterface[wakeKey]
	reasons sync.Map // wakeKey → reason of the pending wake

	instances chan *wasmruntime.Instance // idle instances, at most maxConcurrentReconciles

	residentMu sync.Mutex
	resident   map[*wasmruntime.Instance]struct{} // every open instance, idle or busy
	wakes      atomic.Int64
	unhealthy  atomic.Bool // Ready was set to False for a guest failure

	cancel context.CancelFunc
	done   sync.WaitGroup
}

type registration struct {
	watch *watch
	inf   cache.SharedIndexInformer
	reg   cache.ResourceEventHandlerRegistration
}

// enqueue wakes key for reason.
func (c *controller) enqueue(key wakeKey, reason string) {
	c.reasons.Store(key, reason)
	c.queue.Add(key)
}

// handler delivers one watch's events to the controller's queue.
func (c *controller) handler(w *watch) cache.ResourceEventHandler {
	deliver := func(typ string, obj, old any) {
		u, ok := asUnstructured(obj)
		if !ok {
			return
		}
		var oldU *unstructured.Unstructured
		if old != nil {
			oldU, _ = asUnstructured(old)
		}
		keys, err := w.keys(context.Background(), typ, u, oldU)
		if err != nil {
			c.host.ruleErrors.Add(1)
			c.logger.V(2).Info("Wake rule failed", "watch", w.index, "error", err.Error())
			c.status.setCondition(c.wc.Generation, v1alpha1.ConditionWakeRulesValid, false, "EvaluationFailed",
				fmt.Sprintf("spec.watches[%d]: %v", w.index, err))
			return
		}
		for _, k := range keys {
			ns, name, err := cache.SplitMetaNamespaceKey(k)
			if err != nil || name == "" {
				c.logger.V(2).Info("Ignoring malformed reconcile key", "watch", w.index, "key", k)
				continue
			}
			c.enqueue(wakeKey{ns, name}, abi.ReasonEvent)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { deliver("ADDED", obj, nil) },
		UpdateFunc: func(old, obj any) { deliver("MODIFIED", obj, old) },
		DeleteFunc: func(obj any) { deliver("DELETED", obj, nil) },
	}
}

// run processes the queue with maxConcurrentReconciles workers until ctx is done.
func (c *controller) run(ctx context.Context) {
	n := int(c.wc.Spec.Limits.MaxConcurrentReconciles)
	if n < 1 {
		n = 1
	}
	for range n {
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	if p := c.wc.Spec.ResyncPeriod; p != nil && p.Duration > 0 {
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			// The first resync comes a period after start: the informers'
			// initial ADDED events already woke every key.
			t := time.NewTimer(wait.Jitter(p.Duration, 0.1))
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					c.resync()
					t.Reset(wait.Jitter(p.Duration, 0.1))
				}
			}
		}()
	}
}

// resync wakes every cached key of every watch.
func (c *controller) resync() {
	for _, r := range c.registrations {
		for _, obj := range r.inf.GetStore().List() {
			u, ok := asUnstructured(obj)
			if !ok || !r.watch.matches(u) {
				continue
			}
			c.enqueue(wakeKey{u.GetNamespace(), u.GetName()}, abi.ReasonResync)
		}
	}
}

func (c *controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	reason := abi.ReasonEvent
	if r, ok := c.reasons.LoadAndDelete(key); ok {
		reason = r.(string)
	}
	if c.queue.NumRequeues(key) > 0 && reason == abi.ReasonEvent {
		reason = abi.ReasonRetry
	}
	res, err := c.reconcile(ctx, key, reason)
	wakes := c.wakes.Add(1)
	now := metav1.Now()
	c.status.update(false, func(s *v1alpha1.WasmControllerStatus) {
		s.Wakes = wakes
		s.LastWakeTime = &now
		s.LastWakeReason = reason + " " + key.String()
		s.MemoryBytes = c.memoryBytes()
		if err == nil {
			s.LastError = ""
		} else {
			s.LastError = err.Error()
		}
	})
	c.reportGuestHealth(err)
	switch {
	case err != nil:
		c.logger.Info("Reconcile failed", "key", key.String(), "reason", reason, "error", err.Error())
		c.host.event(c.wc, "Warning", "ReconcileFailed", fmt.Sprintf("%s: %v", key, err))
		c.reasons.Store(key, abi.ReasonRetry)
		c.queue.AddRateLimited(key)
	case res.RequeueAfter > 0:
		c.queue.Forget(key)
		c.reasons.Store(key, abi.ReasonRequeue)
		c.queue.AddAfter(key, res.RequeueAfter)
	default:
		c.queue.Forget(key)
	}
	return true
}

// reportGuestHealth sets Ready to False while the guest traps, times out,
// exceeds its memory or fails to start, and back to True once it reconciles
// again. A reconcile the guest itself reports as failed leaves Ready alone:
// the controller works, the object does not.
func (c *controller) reportGuestHealth(err error) {
	var reason string
	switch {
	case err == nil:
		if c.unhealthy.CompareAndSwap(true, false) {
			c.status.setCondition(c.wc.Generation, v1alpha1.ConditionReady, true, "Running", "the controller wakes on its events")
		}
		return
	case errors.Is(err, wasmruntime.ErrTrap):
		reason = "GuestTrapped"
	case errors.Is(err, wasmruntime.ErrTimeout):
		reason = "ReconcileTimeout"
	case errors.Is(err, wasmruntime.ErrMemoryLimit):
		reason = "MemoryLimitExceeded"
	case errors.Is(err, wasmruntime.ErrExited):
		reason = "GuestExited"
	default:
		if _, guest := errors.AsType[*wasmruntime.GuestError](err); guest {
			return
		}
		reason = "GuestFailed"
	}
	c.unhealthy.Store(true)
	c.status.setCondition(c.wc.Generation, v1alpha1.ConditionReady, false, reason, err.Error())
}

// reconcile runs one reconcile on an idle instance, or a new one.
func (c *controller) reconcile(ctx context.Context, key wakeKey, reason string) (wasmruntime.Result, error) {
	inst, err := c.instance(ctx)
	if err != nil {
		return wasmruntime.Result{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.wc.Spec.Limits.ReconcileTimeout.Duration)
	defer cancel()
	res, err := inst.Reconcile(rctx, wasmruntime.Request{Namespace: key.Namespace, Name: key.Name, Reason: reason})
	if !inst.Closed() && c.wc.Spec.Suspend.Policy != v1alpha1.SuspendImmediate {
		c.instances <- inst // never blocks: there are no more instances than workers
		return res, err
	}
	inst.Close(ctx)
	c.residentMu.Lock()
	delete(c.resident, inst)
	c.residentMu.Unlock()
	return res, err
}

// instance takes an idle instance or starts one.
func (c *controller) instance(ctx context.Context) (*wasmruntime.Instance, error) {
	select {
	case inst := <-c.instances:
		return inst, nil
	default:
	}
	env := map[string]string{}
	for _, e := range c.wc.Spec.Env {
		env[e.Name] = e.Value
	}
	inst, err := c.module.Instantiate(ctx, wasmruntime.InstanceConfig{
		Name:        klog.KObj(c.wc).String(),
		Env:         env,
		MemoryLimit: uint64(c.wc.Spec.Limits.Memory.Value()),
		API:         c.api,
		Logger:      c.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("starting guest: %w", err)
	}
	c.residentMu.Lock()
	c.resident[inst] = struct{}{}
	c.residentMu.Unlock()
	return inst, nil
}

// memoryBytes is the linear memory of the controller's open instances.
func (c *controller) memoryBytes() int64 {
	c.residentMu.Lock()
	defer c.residentMu.Unlock()
	var total int64
	for inst := range c.resident {
		total += int64(inst.MemoryBytes()) // 0 once closed
	}
	return total
}

// stop shuts the controller down and releases everything it holds.
func (c *controller) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.queue.ShutDown()
	c.done.Wait()
	for _, r := range c.registrations {
		_ = r.inf.RemoveEventHandler(r.reg)
		c.host.informers.Release(r.watch.key)
	}
	for len(c.instances) > 0 {
		(<-c.instances).Close(context.Background())
	}
	if c.module != nil {
		c.module.Release(context.Background())
	}
	if c.fetched != nil {
		c.fetched.Release()
	}
}

// isPermanent says whether a load error waits for a spec change.
func isPermanent(err error) bool {
	var abiErr *wasmruntime.ABIError
	return modules.IsPermanent(err) || errors.As(err, &abiErr)
}
