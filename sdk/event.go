package sdk

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Event types, the values of an Event's type.
const (
	// EventTypeNormal is for information: nothing is wrong.
	EventTypeNormal = "Normal"
	// EventTypeWarning is for something that may need attention.
	EventTypeWarning = "Warning"
)

// Limits of an EventRecorder.
const (
	// MaxEventWritesPerReconcile bounds the Event requests (creates and
	// count patches) one recorder sends in one reconcile the SDK runs.
	// Events over it are dropped and the drop logged once per reconcile: a
	// guest that floods Events loses its own Events, not the cluster's
	// capacity.
	MaxEventWritesPerReconcile = 25
	// MaxEventMessageBytes bounds an Event's message, as events.k8s.io
	// bounds a note; a longer message is cut on a rune boundary.
	MaxEventMessageBytes = 1024
)

// EventRecorder records Kubernetes Events (core/v1) about objects, as
// client-go's record.EventRecorder does, but sends each one within the
// reconcile that records it: a guest runs only while a reconcile does, so
// client-go's broadcaster goroutines would get no time to send anything.
//
// O is the type of the objects the recorder takes. NewEventRecorder makes an
// *EventRecorder[any] for SDK guests, which takes an *Object or any struct
// with apiVersion, kind and metadata. A guest that uses client-go makes an
// *EventRecorder[runtime.Object], whose methods are those of
// record.EventRecorder, so it can be passed wherever one is expected without
// this package importing client-go:
//
//	var recorder record.EventRecorder = sdk.NewEventRecorderFor[runtime.Object](
//		"sample-controller", sdk.WithEventKinds(sdk.KindsFrom(scheme.Scheme)))
//
// Events are aggregated as client-go's EventCorrelator aggregates them: an
// Event repeated with the same object, type, reason and message raises the
// count of the Event already sent (a patch) instead of creating another;
// after 10 Events with the same object, type and reason but different
// messages within 10 minutes, the next ones are combined into one Event; and
// each object gets a burst of 25 Events, then one every 5 minutes. On top of
// that a recorder sends at most MaxEventWritesPerReconcile requests per
// reconcile.
//
// Events are written as the controller's ServiceAccount, which needs create
// and patch on events in the object's namespace ("default" for a
// cluster-scoped object). A failure is logged, never returned: recording an
// Event is best effort, as in client-go. It is safe for concurrent use.
type EventRecorder[O any] struct {
	cfg eventConfig

	mu   sync.Mutex
	corr *correlator
	// budget is what is left of the writes of the reconcile numbered wake.
	wake    uint64
	budget  int
	dropped bool // a drop was logged in this reconcile
	// lastNano is the time in the name of the last Event created.
	lastNano int64
}

// eventConfig is what EventOptions set.
type eventConfig struct {
	component string
	client    *Client
	kinds     KindFunc
	now       func() time.Time
}

// EventOption configures an EventRecorder.
type EventOption func(*eventConfig)

// WithEventClient sends Events through c instead of DefaultClient; tests pass
// a Client of a fake API.
func WithEventClient(c *Client) EventOption {
	return func(cfg *eventConfig) { cfg.client = c }
}

// WithEventKinds sets how the recorder finds the apiVersion and kind of an
// object whose own are empty, as client-go's typed objects' usually are.
func WithEventKinds(f KindFunc) EventOption {
	return func(cfg *eventConfig) { cfg.kinds = f }
}

// NewEventRecorder returns a recorder of Events from component (the Event's
// source, such as "widget-controller") about objects of any type.
func NewEventRecorder(component string, opts ...EventOption) *EventRecorder[any] {
	return NewEventRecorderFor[any](component, opts...)
}

// NewEventRecorderFor returns a recorder of Events from component about
// objects of type O; see EventRecorder.
func NewEventRecorderFor[O any](component string, opts ...EventOption) *EventRecorder[O] {
	cfg := eventConfig{component: component, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.client == nil {
		cfg.client = DefaultClient
	}
	return &EventRecorder[O]{cfg: cfg, corr: newCorrelator()}
}

// Event records an Event of eventtype (EventTypeNormal or EventTypeWarning)
// about object: reason is a short UpperCamelCase word for machines, message
// a sentence for humans.
func (r *EventRecorder[O]) Event(object O, eventtype, reason, message string) {
	r.record(object, nil, eventtype, reason, message)
}

// Eventf is Event with the message built by fmt.Sprintf.
func (r *EventRecorder[O]) Eventf(object O, eventtype, reason, messageFmt string, args ...any) {
	r.record(object, nil, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

// AnnotatedEventf is Eventf with annotations on the Event.
func (r *EventRecorder[O]) AnnotatedEventf(object O, annotations map[string]string, eventtype, reason, messageFmt string, args ...any) {
	r.record(object, annotations, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

// record builds the Event and sends it, or logs why it cannot.
func (r *EventRecorder[O]) record(object any, annotations map[string]string, eventtype, reason, message string) {
	ref, err := r.reference(object)
	if err != nil {
		Error(err, "sdk: cannot record Event", "reason", reason)
		return
	}
	if eventtype != EventTypeNormal && eventtype != EventTypeWarning {
		Error(nil, "sdk: cannot record Event of unsupported type", "type", eventtype, "reason", reason, "object", ref.String())
		return
	}
	ev := &eventRecord{
		involved:    ref,
		eventType:   eventtype,
		reason:      reason,
		message:     cutMessage(message),
		annotations: annotations,
		component:   r.cfg.component,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.send(ev, r.cfg.now())
}

// takeBudget takes one write from the current reconcile's budget and says
// whether there was one, logging the first drop of a reconcile.
//
// Before the first reconcile the SDK runs, as in a test calling a
// Reconciler directly, there is no budget to take from.
func (r *EventRecorder[O]) takeBudget(ev *eventRecord) bool {
	w := currentWake()
	if w == 0 {
		return true
	}
	if w != r.wake {
		r.wake, r.budget, r.dropped = w, MaxEventWritesPerReconcile, false
	}
	if r.budget > 0 {
		r.budget--
		return true
	}
	if !r.dropped {
		r.dropped = true
		Error(nil, "sdk: dropping Events over the limit of one reconcile",
			"limit", MaxEventWritesPerReconcile, "reason", ev.reason, "object", ev.involved.String())
	}
	return false
}

// send aggregates ev with the Events sent before and writes it: a new Event,
// or a patch raising the count of the one it repeats.
func (r *EventRecorder[O]) send(ev *eventRecord, now time.Time) {
	nanos := now.UnixNano()
	if !r.corr.allow(ev, nanos) {
		return
	}
	key := r.corr.aggregate(ev, nanos)
	sent, repeat := r.corr.sent[key]
	if !r.takeBudget(ev) {
		return
	}
	ctx := context.Background()
	if repeat {
		count := sent.count + 1
		patch := &eventCount{Count: count, LastTimestamp: formatTime(now), Message: ev.message}
		// Client.object rather than Patch: the patch is a struct, and Patch's
		// handling of every kind of patch would add to every guest recording
		// Events.
		_, err := r.cfg.client.object(ctx, "PATCH", Events.Path(sent.namespace, sent.name, ""), nil, contentType(string(MergePatch)), patch)
		if err == nil {
			sent.count = count
			return
		}
		delete(r.corr.sent, key)
		if !IsNotFound(err) {
			r.logFailure(err, ev)
			return
		}
		// The Event expired or was deleted: send it anew, within the budget.
		if !r.takeBudget(ev) {
			return
		}
	}
	// Names are unique per object and nanosecond; a clock that did not move
	// since the last Event would repeat one.
	nano := max(nanos, r.lastNano+1)
	r.lastNano = nano
	obj := ev.object(now, eventName(ev.involved.Name, nano))
	if _, err := r.cfg.client.Create(ctx, Events, obj); err != nil {
		r.logFailure(err, ev)
		return
	}
	putBounded(r.corr.sent, key, &sentEvent{namespace: obj.Metadata.Namespace, name: obj.Metadata.Name, count: 1})
}

func (r *EventRecorder[O]) logFailure(err error, ev *eventRecord) {
	msg := "sdk: recording Event failed"
	if IsForbidden(err) {
		msg += " (the ServiceAccount needs create and patch on events)"
	}
	Error(err, msg, "reason", ev.reason, "object", ev.involved.String())
}

// formatTime renders t as Kubernetes renders a metav1.Time.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// cutMessage bounds an Event's message to MaxEventMessageBytes.
func cutMessage(s string) string {
	if len(s) <= MaxEventMessageBytes {
		return s
	}
	return truncate(s, MaxEventMessageBytes-len(" ... (truncated)"))
}

// eventName is the name of a new Event about the object named name, as
// client-go names them: the name and a time in nanoseconds, in hex.
func eventName(name string, nano int64) string {
	return name + "." + strconv.FormatInt(nano, 16)
}
