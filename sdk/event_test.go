package sdk

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// eventAPI is a fake API answering Event creates and patches, with the
// requests it got as "METHOD path body".
type eventAPI struct {
	fakeAPI
	patchStatus int // the status of patches; 200 when zero
}

func newEventAPI() *eventAPI {
	a := &eventAPI{}
	a.respond = func(req *APIRequest) (*APIResponse, error) {
		if req.Method == "PATCH" && a.patchStatus != 0 {
			return &APIResponse{Status: a.patchStatus, Body: []byte(`{"kind":"Status","apiVersion":"v1","reason":"NotFound","code":404}`)}, nil
		}
		return &APIResponse{Status: 200, Body: req.Body}, nil
	}
	return a
}

// calls returns the requests as "METHOD path".
func (a *eventAPI) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.requests {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// body decodes the body of request i.
func (a *eventAPI) body(t *testing.T, i int) map[string]any {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(a.requests[i].Body, &m); err != nil {
		t.Fatalf("request %d: %v", i, err)
	}
	return m
}

// newTestRecorder returns a recorder sending to a new eventAPI with a clock
// the test moves, and the logged errors.
func newTestRecorder(t *testing.T) (*EventRecorder[any], *eventAPI, *time.Time, *[]string) {
	api := newEventAPI()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := NewEventRecorder("widget-controller", WithEventClient(NewClientFor(api)))
	r.cfg.now = func() time.Time { return now }
	var logged []string
	logTo = func(_ Level, msg string) { logged = append(logged, msg) }
	t.Cleanup(func() { logTo = hostLog })
	wakes.Add(1)
	return r, api, &now, &logged
}

func testWidget() *Object {
	o := NewObject("demo.wasm.io/v1", "Widget", "d", "w")
	o.Object["metadata"].(map[string]any)["uid"] = "u-1"
	o.Object["metadata"].(map[string]any)["resourceVersion"] = "7"
	return o
}

func TestEventRecorder_Creates(t *testing.T) {
	r, api, _, _ := newTestRecorder(t)
	r.AnnotatedEventf(testWidget(), map[string]string{"a": "b"}, EventTypeNormal, "Synced", "synced %d children", 3)
	if got, want := api.calls(), []string{"POST /api/v1/namespaces/d/events"}; !slices.Equal(got, want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
	want := map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata": map[string]any{
			"name": fmt.Sprintf("w.%x", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()), "namespace": "d",
			"annotations": map[string]any{"a": "b"},
		},
		"involvedObject": map[string]any{"apiVersion": "demo.wasm.io/v1", "kind": "Widget", "namespace": "d", "name": "w", "uid": "u-1", "resourceVersion": "7"},
		"type":           "Normal", "reason": "Synced", "message": "synced 3 children",
		"source": map[string]any{"component": "widget-controller"}, "reportingComponent": "widget-controller",
		"firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:04:05Z", "count": float64(1),
	}
	if got := api.body(t, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("Event = %v\nwant %v", got, want)
	}
}

// TestEventRecorder_Repeats checks that a repeated Event raises the count of
// the first by a patch, and is created anew when that one is gone.
func TestEventRecorder_Repeats(t *testing.T) {
	r, api, now, _ := newTestRecorder(t)
	for range 3 {
		r.Event(testWidget(), EventTypeWarning, "Failed", "no room")
		*now = now.Add(time.Second)
	}
	name := api.body(t, 0)["metadata"].(map[string]any)["name"].(string)
	want := []string{"POST /api/v1/namespaces/d/events", "PATCH /api/v1/namespaces/d/events/" + name, "PATCH /api/v1/namespaces/d/events/" + name}
	if got := api.calls(); !slices.Equal(got, want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
	if got := api.last().Headers["Content-Type"]; got != string(MergePatch) {
		t.Errorf("patch Content-Type = %q", got)
	}
	wantPatch := map[string]any{"count": float64(3), "lastTimestamp": "2026-01-02T03:04:07Z", "message": "no room"}
	if got := api.body(t, 2); !reflect.DeepEqual(got, wantPatch) {
		t.Errorf("patch = %v, want %v", got, wantPatch)
	}

	api.patchStatus = 404
	r.Event(testWidget(), EventTypeWarning, "Failed", "no room")
	if got := api.calls()[3:]; len(got) != 2 || !strings.HasPrefix(got[0], "PATCH ") || got[1] != "POST /api/v1/namespaces/d/events" {
		t.Errorf("after the Event was deleted, requests = %q; want a patch, then a create", got)
	}
}

// TestEventRecorder_CombinesSimilar checks that after 10 Events of one
// object and reason with different messages, the next are one Event.
func TestEventRecorder_CombinesSimilar(t *testing.T) {
	r, api, _, _ := newTestRecorder(t)
	for i := range similarEvents + 2 {
		r.Eventf(testWidget(), EventTypeWarning, "Failed", "child %d failed", i)
	}
	calls := api.calls()
	if len(calls) != similarEvents+2 {
		t.Fatalf("requests = %q", calls)
	}
	for i, c := range calls[:similarEvents+1] {
		if !strings.HasPrefix(c, "POST ") {
			t.Errorf("request %d = %s, want a create", i, c)
		}
	}
	if got := api.body(t, similarEvents)["message"]; got != combinedPrefix+"child 10 failed" {
		t.Errorf("combined message = %q", got)
	}
	if !strings.HasPrefix(calls[similarEvents+1], "PATCH ") {
		t.Errorf("the 12th Event was %s, want a patch of the combined one", calls[similarEvents+1])
	}
}

// TestEventRecorder_Bounds checks the per-reconcile budget and the
// per-object token bucket.
func TestEventRecorder_Bounds(t *testing.T) {
	r, api, now, logged := newTestRecorder(t)
	for i := range MaxEventWritesPerReconcile + 10 {
		o := testWidget()
		o.SetName(fmt.Sprintf("w%d", i))
		r.Event(o, EventTypeNormal, "Created", "made")
	}
	if got := len(api.calls()); got != MaxEventWritesPerReconcile {
		t.Errorf("one reconcile sent %d requests, want %d", got, MaxEventWritesPerReconcile)
	}
	if len(*logged) != 1 || !strings.Contains((*logged)[0], "dropping Events") {
		t.Errorf("logged %q, want one drop", *logged)
	}

	// One object gets a burst of 25 Events, then one per 5 minutes.
	sent := func() int {
		before := len(api.calls())
		wakes.Add(1)
		for i := range objectEventBurst + 5 {
			r.Eventf(testWidget(), EventTypeNormal, fmt.Sprintf("Reason%d", i), "m")
		}
		return len(api.calls()) - before
	}
	if got := sent(); got != objectEventBurst {
		t.Errorf("one object got %d Events in a burst, want %d", got, objectEventBurst)
	}
	*now = now.Add(objectEventEvery)
	if got := sent(); got != 1 {
		t.Errorf("one object got %d Events 5 minutes later, want 1", got)
	}
}

// TestEventRecorder_Refuses checks what is logged and not sent.
func TestEventRecorder_Refuses(t *testing.T) {
	type untyped struct {
		Metadata ObjectMeta `json:"metadata"`
	}
	tests := []struct {
		name      string
		object    any
		eventType string
		wantLog   string
	}{
		{name: "unknown type", object: testWidget(), eventType: "Error", wantLog: `unsupported type type="Error"`},
		{name: "no kind", object: &untyped{Metadata: ObjectMeta{Name: "x"}}, eventType: EventTypeNormal, wantLog: "has no apiVersion and kind"},
		{name: "no name", object: NewObject("v1", "ConfigMap", "d", ""), eventType: EventTypeNormal, wantLog: "ConfigMap has no name"},
		{name: "nil", object: nil, eventType: EventTypeNormal, wantLog: "no object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, api, _, logged := newTestRecorder(t)
			r.Event(tt.object, tt.eventType, "R", "m")
			if len(api.calls()) != 0 {
				t.Errorf("sent %q", api.calls())
			}
			if len(*logged) != 1 || !strings.Contains((*logged)[0], tt.wantLog) {
				t.Errorf("logged %q, want %q", *logged, tt.wantLog)
			}
		})
	}
}

func TestEventRecorder_ClusterScopedAndLongMessage(t *testing.T) {
	r, api, _, _ := newTestRecorder(t)
	r.Event(NewObject("v1", "Namespace", "", "team-a"), EventTypeNormal, "R", strings.Repeat("x", 5000))
	if got := api.calls(); len(got) != 1 || got[0] != "POST /api/v1/namespaces/default/events" {
		t.Fatalf("requests = %q, want a create in default", got)
	}
	if msg := api.body(t, 0)["message"].(string); len(msg) != MaxEventMessageBytes || !strings.HasSuffix(msg, "(truncated)") {
		t.Errorf("message of %d bytes ends %q", len(msg), msg[len(msg)-20:])
	}
}

// TestEventRecorder_UniqueNames checks that Events created while the clock
// stands still get names of their own.
func TestEventRecorder_UniqueNames(t *testing.T) {
	r, api, _, _ := newTestRecorder(t)
	r.Event(testWidget(), EventTypeNormal, "A", "m")
	r.Event(testWidget(), EventTypeNormal, "B", "m")
	first := api.body(t, 0)["metadata"].(map[string]any)["name"]
	if second := api.body(t, 1)["metadata"].(map[string]any)["name"]; first == second {
		t.Errorf("two Events named %s", first)
	}
}

// scheme mimics apimachinery's runtime.Scheme for KindsFrom.
type scheme struct{}

type gvk struct{ Group, Version, Kind string }

type runtimeObject interface{ DeepCopyObject() runtimeObject }

type typedDeployment struct {
	Metadata ObjectMeta `json:"metadata"`
}

func (d *typedDeployment) DeepCopyObject() runtimeObject { c := *d; return &c }

func (scheme) ObjectKinds(o runtimeObject) ([]gvk, bool, error) {
	if _, ok := o.(*typedDeployment); ok {
		return []gvk{{Group: "apps", Version: "v1", Kind: "Deployment"}}, false, nil
	}
	return nil, false, fmt.Errorf("unknown %T", o)
}

// recorderLike has the methods of client-go's record.EventRecorder, with
// runtimeObject for runtime.Object.
type recorderLike interface {
	Event(object runtimeObject, eventtype, reason, message string)
	Eventf(object runtimeObject, eventtype, reason, messageFmt string, args ...interface{})
	AnnotatedEventf(object runtimeObject, annotations map[string]string, eventtype, reason, messageFmt string, args ...interface{})
}

// TestEventRecorderFor_TypedObjects checks a recorder of an interface type,
// as client-go guests use, finding kinds through a scheme.
func TestEventRecorderFor_TypedObjects(t *testing.T) {
	api := newEventAPI()
	var r recorderLike = NewEventRecorderFor[runtimeObject]("c", WithEventClient(NewClientFor(api)), WithEventKinds(KindsFrom(scheme{})))
	r.Eventf(&typedDeployment{Metadata: ObjectMeta{Name: "web", Namespace: "d"}}, EventTypeNormal, "Scaled", "to %d", 3)
	if got := api.calls(); len(got) != 1 {
		t.Fatalf("requests = %q", got)
	}
	ref := api.body(t, 0)["involvedObject"].(map[string]any)
	if ref["apiVersion"] != "apps/v1" || ref["kind"] != "Deployment" || ref["name"] != "web" {
		t.Errorf("involvedObject = %v", ref)
	}
}

func TestPutBounded(t *testing.T) {
	m := map[string]int{}
	for i := range eventCacheEntries + 10 {
		putBounded(m, fmt.Sprint(i), i)
	}
	if len(m) != eventCacheEntries {
		t.Errorf("map holds %d entries, want %d", len(m), eventCacheEntries)
	}
	last := fmt.Sprint(eventCacheEntries + 9)
	putBounded(m, last, -1) // replacing drops nothing
	if len(m) != eventCacheEntries || m[last] != -1 {
		t.Errorf("after a replace: %d entries, %s=%d", len(m), last, m[last])
	}
}
