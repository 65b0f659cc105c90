package sdk

import "time"

// Aggregation of Events, after client-go's EventCorrelator.
const (
	// eventCacheEntries bounds each of the correlator's caches.
	eventCacheEntries = 1024
	// similarEvents is how many Events of one object, type and reason with
	// different messages are sent before the next are combined.
	similarEvents = 10
	// similarWindow is how long similar Events count toward similarEvents.
	similarWindow = 10 * time.Minute
	// objectEventBurst and objectEventEvery are the token bucket of the
	// Events of one object: a burst, then one per interval.
	objectEventBurst = 25
	objectEventEvery = 5 * time.Minute
	// combinedPrefix starts the message of a combined Event.
	combinedPrefix = "(combined from similar events): "
)

// objectReference is an Event's involvedObject.
type objectReference struct {
	APIVersion      string `json:"apiVersion,omitempty"`
	Kind            string `json:"kind,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// String names the object as "Kind namespace/name".
func (r objectReference) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// key identifies the object, whatever its resourceVersion.
func (r objectReference) key() string {
	return r.APIVersion + "\x00" + r.Kind + "\x00" + r.Namespace + "\x00" + r.Name + "\x00" + r.UID
}

// eventRecord is one Event a controller recorded.
type eventRecord struct {
	involved    objectReference
	eventType   string
	reason      string
	message     string
	annotations map[string]string
	component   string
}

// event is a core/v1 Event as the recorder writes it.
type event struct {
	APIVersion         string          `json:"apiVersion"`
	Kind               string          `json:"kind"`
	Metadata           eventMeta       `json:"metadata"`
	InvolvedObject     objectReference `json:"involvedObject"`
	Type               string          `json:"type"`
	Reason             string          `json:"reason"`
	Message            string          `json:"message"`
	Source             eventSource     `json:"source"`
	ReportingComponent string          `json:"reportingComponent"`
	FirstTimestamp     string          `json:"firstTimestamp"`
	LastTimestamp      string          `json:"lastTimestamp"`
	Count              int64           `json:"count"`
}

type eventMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type eventSource struct {
	Component string `json:"component"`
}

// eventCount is the patch raising the count of an Event.
type eventCount struct {
	Count         int64  `json:"count"`
	LastTimestamp string `json:"lastTimestamp"`
	Message       string `json:"message"`
}

// object returns the Event named name to create at now.
func (e *eventRecord) object(now time.Time, name string) *event {
	ns := e.involved.Namespace
	if ns == "" {
		ns = "default" // where Events about cluster-scoped objects go
	}
	ts := formatTime(now)
	return &event{
		APIVersion:         "v1",
		Kind:               "Event",
		Metadata:           eventMeta{Name: name, Namespace: ns, Annotations: e.annotations},
		InvolvedObject:     e.involved,
		Type:               e.eventType,
		Reason:             e.reason,
		Message:            e.message,
		Source:             eventSource{Component: e.component},
		ReportingComponent: e.component,
		FirstTimestamp:     ts,
		LastTimestamp:      ts,
		Count:              1,
	}
}

// sentEvent is an Event the recorder created.
type sentEvent struct {
	namespace, name string
	count           int64
}

// similar is the messages of recent Events of one object, type and reason.
type similar struct {
	messages map[string]struct{}
	last     int64 // Unix nanoseconds
}

// objectTokens is the token bucket of one object's Events.
type objectTokens struct {
	tokens float64
	last   int64 // Unix nanoseconds
}

// correlator holds what a recorder remembers of the Events it sent, each
// map bounded to eventCacheEntries. Times are Unix nanoseconds.
type correlator struct {
	tokens  map[string]*objectTokens
	similar map[string]*similar
	sent    map[string]*sentEvent
}

func newCorrelator() *correlator {
	return &correlator{tokens: map[string]*objectTokens{}, similar: map[string]*similar{}, sent: map[string]*sentEvent{}}
}

// allow takes a token of the Event's object and says whether there was one.
func (c *correlator) allow(e *eventRecord, now int64) bool {
	key := e.component + "\x00" + e.involved.key()
	b, ok := c.tokens[key]
	if !ok {
		b = &objectTokens{tokens: objectEventBurst, last: now}
		putBounded(c.tokens, key, b)
	}
	if now > b.last {
		b.tokens = min(objectEventBurst, b.tokens+float64(now-b.last)/float64(objectEventEvery))
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// aggregate returns the key under which e repeats an Event sent before.
// Once similarEvents Events of e's object, type and reason with different
// messages were sent within similarWindow, e becomes their combined Event:
// its message is prefixed with combinedPrefix and its key leaves the message
// out, so the next ones raise the count of one Event.
func (c *correlator) aggregate(e *eventRecord, now int64) string {
	group := e.component + "\x00" + e.involved.key() + "\x00" + e.eventType + "\x00" + e.reason
	s, ok := c.similar[group]
	if !ok || now-s.last > int64(similarWindow) {
		s = &similar{messages: map[string]struct{}{}}
		putBounded(c.similar, group, s)
	}
	s.last = now
	if _, seen := s.messages[e.message]; seen || len(s.messages) < similarEvents {
		s.messages[e.message] = struct{}{}
		return group + "\x00" + e.message
	}
	e.message = cutMessage(combinedPrefix + e.message)
	return group
}

// putBounded sets m[key] to v, first dropping an entry (whichever the map
// yields first) when m holds eventCacheEntries already.
func putBounded[V any](m map[string]V, key string, v V) {
	if _, ok := m[key]; !ok && len(m) >= eventCacheEntries {
		for k := range m {
			delete(m, k)
			break
		}
	}
	m[key] = v
}
