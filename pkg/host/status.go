package host

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	clientset "github.com/wasm-apiserver/wasm-apiserver/pkg/generated/clientset/versioned"
)

// statusFlushInterval coalesces status writes: wakes between two flushes
// become one write.
const statusFlushInterval = 2 * time.Second

// statusWriter keeps the status the host wants a WasmController to show
// and writes it through the status subresource, coalesced.
//
// A writer is bound to one object, by UID: it writes only onto that object,
// and each write carries the UID, which the API server checks as a
// precondition. Once the object is gone, or another object of the same
// name took its place, the writer drops what it had to write and writes no
// more; the controller for the new object has a writer of its own, which
// starts from that object's status, never from its predecessor's.
//
// The status starts from the object's status as it was when the writer was
// made, so conditions and times carry over a reload or a restart of the
// process. status.wakes does not: the controller counts its wakes from its
// load, so that count restarts at every load, a restart of the process
// included.
type statusWriter struct {
	client clientset.Interface
	// clock times the coalesced writes.
	clock     clock.WithDelayedExecution
	namespace string
	name      string
	uid       types.UID

	// nextWake, when set, reports the next timer of the controller; it is
	// asked at each write, so status.nextWakeTime is current as of then.
	nextWake func() *metav1.Time

	mu     sync.Mutex
	status v1alpha1.WasmControllerStatus
	dirty  bool
	// pending says a flush is scheduled for a coalesced change; no timer
	// runs while nothing changed, so a sleeping controller costs no wakeups.
	pending bool
	// ctx is set by start; until then, and after stop, kicks are only
	// remembered.
	ctx context.Context
	// kicked says a write was asked for; flushing that a goroutine writes.
	// A writer has a goroutine only while it writes, so a sleeping
	// controller costs no goroutine either.
	kicked, flushing bool
	flushes          sync.WaitGroup
	// gone says the object was deleted or re-created: nothing is written
	// any more.
	gone bool
}

// newStatusWriter returns a writer for wc, the object of that UID, starting
// from its status, that coalesces writes on clk.
func newStatusWriter(client clientset.Interface, clk clock.WithDelayedExecution, wc *v1alpha1.WasmController) *statusWriter {
	return &statusWriter{client: client, clock: clk, namespace: wc.Namespace, name: wc.Name, uid: wc.UID,
		status: *wc.Status.DeepCopy()}
}

// flushLater asks for a write statusFlushInterval from now. The timer
// belongs to the clock: no goroutine waits for it.
func (w *statusWriter) flushLater() {
	w.clock.AfterFunc(statusFlushInterval, w.kickNow)
}

// update changes the wanted status; urgent changes (phase, conditions) are
// written at once, the rest at the next flush.
func (w *statusWriter) update(urgent bool, f func(s *v1alpha1.WasmControllerStatus)) {
	w.mu.Lock()
	f(&w.status)
	w.dirty = true
	schedule := !urgent && !w.pending
	w.pending = w.pending || schedule
	w.mu.Unlock()
	switch {
	case urgent:
		w.kickNow()
	case schedule:
		w.flushLater()
	}
}

// setCondition sets one condition and, if that changed it, writes it at once.
func (w *statusWriter) setCondition(generation int64, typ string, ok bool, reason, message string) {
	w.setConditionCoalesced(false, generation, typ, ok, reason, message)
}

// setConditionCoalesced sets one condition; if that changed it, it is
// written at once, or at the next flush when coalesced.
func (w *statusWriter) setConditionCoalesced(coalesced bool, generation int64, typ string, ok bool, reason, message string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	w.mu.Lock()
	changed := meta.SetStatusCondition(&w.status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: message, ObservedGeneration: generation})
	w.dirty = w.dirty || changed
	schedule := changed && coalesced && !w.pending
	w.pending = w.pending || schedule
	w.mu.Unlock()
	switch {
	case changed && !coalesced:
		w.kickNow()
	case schedule:
		w.flushLater()
	}
}

// removeCondition removes a condition and, if it was there, writes the
// status at once.
func (w *statusWriter) removeCondition(typ string) {
	w.mu.Lock()
	changed := meta.RemoveStatusCondition(&w.status.Conditions, typ)
	w.dirty = w.dirty || changed
	w.mu.Unlock()
	if changed {
		w.kickNow()
	}
}

// touch asks for a write at the next flush, for nextWakeTime.
func (w *statusWriter) touch() {
	w.update(false, func(*v1alpha1.WasmControllerStatus) {})
}

// kickNow asks for a write: at once when started, else at start.
func (w *statusWriter) kickNow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kicked = true
	w.flushIfKickedLocked()
}

// flushIfKickedLocked starts a goroutine that writes while writes are asked
// for, if started and none runs. Called with w.mu held.
func (w *statusWriter) flushIfKickedLocked() {
	if !w.kicked || w.gone || w.ctx == nil || w.flushing || w.ctx.Err() != nil {
		return
	}
	w.flushing = true
	w.flushes.Go(w.flushWhileKicked)
}

func (w *statusWriter) flushWhileKicked() {
	for {
		w.mu.Lock()
		if !w.kicked || w.gone || w.ctx.Err() != nil {
			w.flushing = false
			w.mu.Unlock()
			return
		}
		w.kicked = false
		ctx := w.ctx
		w.mu.Unlock()
		w.flush(ctx)
	}
}

// start writes the status when asked to until ctx is done: at once for
// urgent changes, statusFlushInterval after the first of a run of
// coalesced ones. Call stop once ctx is done.
func (w *statusWriter) start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctx = ctx
	w.flushIfKickedLocked() // what was asked before
}

// stop waits for a write under way and writes once more, if started.
func (w *statusWriter) stop() {
	w.mu.Lock()
	started := w.ctx != nil
	w.mu.Unlock()
	if !started {
		return
	}
	w.flushes.Wait()
	w.flush(context.Background())
}

func (w *statusWriter) flush(ctx context.Context) {
	w.mu.Lock()
	if !w.dirty || w.gone {
		w.pending = false
		w.mu.Unlock()
		return
	}
	want := *w.status.DeepCopy()
	w.dirty = false
	w.pending = false
	w.mu.Unlock()
	if w.nextWake != nil {
		want.NextWakeTime = w.nextWake()
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wcs := w.client.ControllersV1alpha1().WasmControllers(w.namespace)
	var replaced bool
	var newUID types.UID
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		wc, err := wcs.Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if wc.UID != w.uid {
			replaced, newUID = true, wc.UID
			return nil
		}
		// The UID, with the resourceVersion, is a precondition of the
		// update: an object re-created after the Get refuses the write
		// with a Conflict, and the next Get sees it.
		wc.UID = w.uid
		wc.Status = want
		_, err = wcs.UpdateStatus(ctx, wc, metav1.UpdateOptions{FieldManager: "wasm-apiserver"})
		return err
	})
	if replaced || apierrors.IsNotFound(err) {
		// Deleted or re-created: nothing to report to. A new object of the
		// same name has a writer of its own.
		w.mu.Lock()
		w.gone, w.dirty, w.pending = true, false, false
		w.mu.Unlock()
		klog.V(2).InfoS("WasmController is gone; dropping its status", "wasmController",
			klog.KRef(w.namespace, w.name), "uid", w.uid, "replacedBy", newUID)
		return
	}
	if err != nil && ctx.Err() == nil {
		klog.ErrorS(err, "Writing WasmController status", "wasmController", klog.KRef(w.namespace, w.name))
		w.mu.Lock()
		w.dirty = true
		retry := !w.pending
		w.pending = true
		w.mu.Unlock()
		if retry {
			w.flushLater()
		}
	}
}
