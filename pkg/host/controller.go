package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// resyncJitter spreads resyncs of controllers with the same period: each
// comes up to 10% later than the period.
const resyncJitter = 0.1

// controller runs one WasmController at one generation. It owns a queue of
// keys; the host's scheduler takes keys from it and runs reconciles, and
// the host's timer queue holds its resync, requeues and retries.
type controller struct {
	// env is what the controller uses of the host: it holds no *Host.
	env  *hostServices
	wc   *v1alpha1.WasmController
	name string // namespace/name, for logs and metrics
	// lease keeps the module in the module store while the controller runs
	// it; the controller keeps no bytes of its own.
	lease *modules.Lease
	// run runs one reconcile in a turn: (*controller).reconcileInTurn but
	// in tests.
	run    func(ctx context.Context, t *turn, key wakeKey, reason string) (wasmruntime.Result, error)
	status *statusWriter
	logger klog.Logger

	watches       []*watch
	subscriptions []*subscription

	// queue holds the keys woken and not yet run; the scheduler takes
	// them.
	queue *wakeQueue

	// pool runs the guest's instances, with the suspend policy and the
	// snapshots.
	pool *instancePool

	wakes      atomic.Int64
	unhealthy  atomic.Bool  // Ready was set to False for a guest failure
	failures   atomic.Int64 // reconciles failed in a row
	ruleErrors atomic.Int64 // wake rule evaluations that failed
	// revoked is set once the ServiceAccount may no longer read what a
	// watch reads: no event, resync or replay wakes the controller then.
	revoked atomic.Bool
	rules   ruleCounters
	inbox   inbox // events waiting for the watches' rules

	ctx    context.Context // done once the controller stops
	cancel context.CancelFunc
	done   sync.WaitGroup // other goroutines
}

func newController(env *hostServices, wc *v1alpha1.WasmController, module *wasmruntime.Module, status *statusWriter) *controller {
	ctx, cancel := context.WithCancel(context.Background())
	limit := max(1, int(wc.Spec.Limits.MaxConcurrentReconciles))
	c := &controller{env: env, wc: wc, name: wc.Namespace + "/" + wc.Name, status: status,
		logger: klog.Background().WithValues("wasmController", klog.KObj(wc)),
		queue:  newWakeQueue(limit),
		ctx:    ctx, cancel: cancel}
	c.run = c.reconcileInTurn
	c.pool = newInstancePool(c, module, limit, newSuspendPolicy(wc.Spec.Suspend, func() (time.Time, bool) { return env.timers.next(c) }))
	c.rules = env.metrics.ruleCounters(c.name)
	vars := map[string]string{}
	for _, e := range wc.Spec.Env {
		vars[e.Name] = e.Value
	}
	// One output allowance for all the controller's instances, so that
	// running more of them or restarting them gains a guest no more log.
	c.pool.cfg = wasmruntime.InstanceConfig{Name: c.name, Tenant: wc.Namespace, Env: vars, Reconciler: wc.Spec.Module.Reconciler, Logger: c.logger,
		LogLimiter: wasmruntime.NewLogLimiter(wasmruntime.DefaultLogLinesPerSecond, wasmruntime.DefaultLogLineBurst,
			wasmruntime.DefaultLogBytesPerSecond, wasmruntime.DefaultLogByteBurst)}
	if m := wc.Spec.Limits.Memory; m != nil {
		c.pool.cfg.MemoryLimit = uint64(m.Value())
	}
	status.nextWake = func() *metav1.Time {
		if t, ok := env.timers.next(c); ok {
			mt := metav1.NewTime(t)
			return &mt
		}
		return nil
	}
	return c
}

// enqueue wakes key for reason.
func (c *controller) enqueue(key wakeKey, reason string) {
	if c.revoked.Load() {
		return
	}
	c.queue.add(key, reason)
	c.env.scheduler.notify(c)
}

// deliver passes an event of one of w's informers to the controller, on
// the informer's goroutine. The selectors are tested here, and rules run
// here too while they are quick: a rule that runs over inlineRuleBudget
// is stopped and evaluated again off this goroutine (inbox), with its
// full deadline, and so are all the controller's later events. No
// controller's rule then delays another's events by more than the budget,
// once; the many quick rules pay no hand-off.
func (c *controller) deliver(w *watch, e *event) {
	if c.revoked.Load() {
		return // its rules must not see what it may not read
	}
	if !w.selects(e) {
		return
	}
	if !w.hasRules() {
		keys, err := w.ownKeys(e.obj, e.old)
		if err != nil {
			c.logger.V(2).Info("Ignoring an object with no key", "watch", w.index, "error", err.Error())
			return
		}
		c.enqueueKeys(w, keys, abi.ReasonEvent)
		return
	}
	if c.inbox.offPath.Load() {
		c.submit(w, e)
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, inlineRuleBudget)
	start := c.env.clock.Now()
	keys, err := w.keys(ctx, e)
	// CEL checks its deadline only in loops: a rule without one runs to
	// its end however long it takes, so the time taken counts too.
	overBudget := c.env.clock.Since(start) > inlineRuleBudget
	stopped := err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()
	if (overBudget || stopped) && c.ctx.Err() == nil {
		c.inbox.offPath.Store(true)
		c.logger.V(2).Info("A wake rule ran over its budget on the informer's goroutine; the controller's rules run off it from now on",
			"watch", w.index, "budget", inlineRuleBudget)
		if stopped {
			c.submit(w, e) // evaluated again, with its full deadline
			return
		}
	}
	c.decided(w, keys, err)
}

// evaluate decides, off the informer's goroutine, from w's rules whether
// an event wakes the controller, and for which keys.
func (c *controller) evaluate(w *watch, e *event) {
	if c.revoked.Load() || c.ctx.Err() != nil {
		return
	}
	keys, err := w.keys(c.ctx, e)
	c.decided(w, keys, err)
}

// decided counts a rules' decision and wakes its keys.
func (c *controller) decided(w *watch, keys []string, err error) {
	switch {
	case err != nil:
		c.ruleFailed(w, err)
		return
	case len(keys) == 0:
		c.rules.skip.Inc()
	default:
		c.rules.wake.Inc()
	}
	c.enqueueKeys(w, keys, abi.ReasonEvent)
}

func (c *controller) enqueueKeys(w *watch, keys []string, reason string) {
	for _, k := range keys {
		ns, name, err := cache.SplitMetaNamespaceKey(k)
		if err != nil || name == "" {
			c.logger.V(2).Info("Ignoring malformed reconcile key", "watch", w.index, "key", k)
			continue
		}
		c.enqueue(wakeKey{ns, name}, reason)
	}
}

// ruleFailed counts a failed evaluation. The first failure turns
// WakeRulesValid False at once; later ones only update its message with the
// next coalesced status write, so a rule failing on every event floods
// neither the logs (V(2)) nor the status.
func (c *controller) ruleFailed(w *watch, err error) {
	n := c.ruleErrors.Add(1)
	c.rules.failed.Inc()
	c.logger.V(2).Info("Wake rule failed", "watch", w.index, "error", err.Error())
	c.status.setConditionCoalesced(n > 1, c.wc.Generation, v1alpha1.ConditionWakeRulesValid, false, "EvaluationFailed",
		fmt.Sprintf("%d evaluations failed and woke nothing; last: spec.watches[%d]: %s", n, w.index, ruleFailure(err)))
}

// scheduleResync arms the controller's next resync, a period (plus jitter)
// from now. The first comes a period after start, which woke every key.
func (c *controller) scheduleResync() {
	p := c.wc.Spec.ResyncPeriod
	if p == nil || p.Duration <= 0 || c.ctx.Err() != nil {
		return
	}
	at := c.env.clock.Now().Add(wait.Jitter(p.Duration, resyncJitter))
	c.env.timers.schedule(timerID{owner: c, kind: timerResync}, at, c.resync)
	c.status.touch()
}

// resync wakes every key, then arms the next resync.
func (c *controller) resync() {
	c.requestWakeAll()
	c.scheduleResync()
}

// wakeAll wakes, with reason "resync", every key that the watches' cached
// objects map to: each object passing the watch's selectors, through the
// watch's enqueue rule (its own key by default). wakeWhen is not asked: it
// runs when a controller starts, so that whatever changed while nothing
// watched (objects deleted, relabelled or changed while the server was
// down) is reconciled at once, and at each resync. Keys are de-duplicated
// by the queue.
func (c *controller) wakeAll() {
	if c.ctx.Err() != nil || c.revoked.Load() {
		return
	}
	for _, s := range c.subscriptions {
		for _, obj := range s.inf.GetStore().List() {
			u, ok := asUnstructured(obj)
			if !ok {
				continue
			}
			keys, err := s.w.resyncKeys(c.ctx, u)
			if err != nil {
				c.ruleFailed(s.w, err)
				continue
			}
			c.enqueueKeys(s.w, keys, abi.ReasonResync)
		}
	}
}

// process runs one reconcile of key in turn t and decides when it runs
// again; the scheduler calls it for each key of a turn.
func (c *controller) process(t *turn, key wakeKey) {
	if c.ctx.Err() != nil {
		return
	}
	reason := c.queue.reason(key)
	// At level 4, every reconcile's start and end: which replica ran which
	// key when, to check that two never ran one at once.
	c.logger.V(4).Info("Reconcile started", "key", key.String(), "reason", reason)
	res, err := c.run(c.ctx, t, key, reason)
	c.logger.V(4).Info("Reconcile ended", "key", key.String(), "failed", err != nil)
	if c.ctx.Err() != nil {
		return // stopped while it ran: nothing to report
	}
	wakes := c.wakes.Add(1)
	c.env.metrics.woke(c.name, reason)
	now := metav1.NewTime(c.env.clock.Now())
	var failures int64
	lastError := ""
	if err != nil {
		failures = c.failures.Add(1)
		lastError = publicError(err, key)
	} else {
		c.failures.Store(0)
	}
	// Status shows no key: an enqueue rule may have built it from data
	// that readers of the WasmController may not read.
	c.status.update(false, func(s *v1alpha1.WasmControllerStatus) {
		s.Wakes = wakes
		s.LastWakeTime = &now
		s.LastWakeReason = reason
		s.MemoryBytes = c.pool.memoryBytes()
		s.LastError = lastError
	})
	c.reportGuestHealth(err, key, failures)
	switch {
	case err != nil:
		c.logFailure(key, reason, err)
		c.env.event(c.wc, "Warning", "ReconcileFailed", lastError)
		c.wakeAfter(key, c.queue.failed(key), abi.ReasonRetry)
	case res.RequeueAfter > 0:
		c.queue.succeeded(key)
		c.wakeAfter(key, res.RequeueAfter, abi.ReasonRequeue)
	default:
		c.queue.succeeded(key)
	}
}

// wakeAfter wakes key after d, through the host's timer queue.
func (c *controller) wakeAfter(key wakeKey, d time.Duration, reason string) {
	c.env.timers.schedule(timerID{owner: c, kind: timerWake, key: key}, c.env.clock.Now().Add(d),
		func() { c.enqueue(key, reason) })
}
