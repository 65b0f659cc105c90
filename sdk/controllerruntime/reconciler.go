package controllerruntime

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// Requeue delays for a Result with Requeue set and no RequeueAfter: they
// grow exponentially per key, as controller-runtime's default rate limiter
// has them grow.
const (
	// RequeueBaseDelay is the delay of the first such requeue of a key.
	RequeueBaseDelay = 5 * time.Millisecond
	// RequeueMaxDelay bounds the delay of the requeues that follow.
	RequeueMaxDelay = 1000 * time.Second
)

// Register makes r the Reconciler the module runs, through NewReconciler,
// and makes the logger of controller-runtime's log package (log.Log,
// ctrl.Log, log.FromContext) log through the host. Call it from init: a
// c-shared module never runs main.
//
//	func init() {
//		scheme := runtime.NewScheme()
//		utilruntime.Must(clientgoscheme.AddToScheme(scheme))
//		utilruntime.Must(cachev1alpha1.AddToScheme(scheme))
//		c, err := controllerruntime.NewClient(scheme)
//		if err != nil {
//			panic(err)
//		}
//		controllerruntime.Register(&MemcachedReconciler{Client: c, Scheme: scheme})
//	}
func Register(r reconcile.Reconciler) {
	log.SetLogger(NewLogger())
	sdk.Register(NewReconciler(r))
}

// NewReconciler adapts a controller-runtime Reconciler to the SDK's:
//
//   - The wake's key is the reconcile.Request (namespace and name); the
//     context carries a logger with the key and the reason of the wake, for
//     log.FromContext.
//   - A Result's RequeueAfter is the SDK's RequeueAfter. Requeue without
//     RequeueAfter wakes the key again after a delay growing from
//     RequeueBaseDelay to RequeueMaxDelay while the key keeps asking.
//   - An error fails the reconcile: the host retries it with backoff and
//     shows it in status.lastError; the Result is ignored, as controller-runtime
//     ignores it.
//   - An error wrapping reconcile.TerminalError is logged and not retried,
//     as in controller-runtime: the reconcile succeeds without a requeue.
func NewReconciler(r reconcile.Reconciler) sdk.Reconciler {
	return &adapter{reconciler: r, requeues: map[types.NamespacedName]int{}}
}

// adapter is the sdk.Reconciler that NewReconciler returns.
type adapter struct {
	reconciler reconcile.Reconciler

	mu sync.Mutex
	// requeues counts the consecutive Requeue results of each key.
	requeues map[types.NamespacedName]int
}

// Reconcile runs the controller-runtime Reconciler for req.
func (a *adapter) Reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	key := types.NamespacedName{Namespace: req.Namespace, Name: req.Name}
	logger := NewLogger().WithValues("namespace", req.Namespace, "name", req.Name, "reason", req.Reason)
	res, err := a.reconciler.Reconcile(log.IntoContext(ctx, logger), reconcile.Request{NamespacedName: key})
	switch {
	case err != nil && errors.Is(err, reconcile.TerminalError(nil)):
		a.forget(key)
		logger.Error(err, "Reconciler error, not retried")
		return sdk.Result{}, nil
	case err != nil:
		a.forget(key)
		return sdk.Result{}, err
	case res.RequeueAfter > 0:
		a.forget(key)
		return sdk.Result{RequeueAfter: res.RequeueAfter}, nil
	case res.Requeue: //nolint:staticcheck // Requeue is deprecated, and still honoured.
		return sdk.Result{RequeueAfter: a.backoff(key)}, nil
	default:
		a.forget(key)
		return sdk.Result{}, nil
	}
}

// backoff counts a Requeue of key and returns how long to wait.
func (a *adapter) backoff(key types.NamespacedName) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.requeues[key]
	a.requeues[key] = n + 1
	d := RequeueBaseDelay
	for range n {
		if d >= RequeueMaxDelay/2 {
			return RequeueMaxDelay
		}
		d *= 2
	}
	return d
}

// forget resets the Requeue count of key.
func (a *adapter) forget(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.requeues, key)
}
