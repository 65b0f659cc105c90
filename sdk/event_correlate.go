package sdk

import (
	"strings"
	"time"
)

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
	return strings.Join([]string{r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID}, "\x00")
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

// object returns the Event named name to create at now.
func (e *eventRecord) object(now time.Time, name string) *Object {
	ns := e.involved.Namespace
	if ns == "" {
		ns = "default" // where Events about cluster-scoped objects go
	}
	metadata := map[string]any{"name": name, "namespace": ns}
	if len(e.annotations) > 0 {
		annotations := make(map[string]any, len(e.annotations))
		for k, v := range e.annotations {
			annotations[k] = v
		}
		metadata["annotations"] = annotations
	}
	ts := formatTime(now)
	return &Object{Object: map[string]any{
		"apiVersion":         "v1",
		"kind":               "Event",
		"metadata":           metadata,
		"involvedObject":     e.involved.fields(),
		"type":               e.eventType,
		"reason":             e.reason,
		"message":            e.message,
		"source":             map[string]any{"component": e.component},
		"reportingComponent": e.component,
		"firstTimestamp":     ts,
		"lastTimestamp":      ts,
		"count":              int64(1),
	}}
}

// fields is the reference as a JSON map.
func (r objectReference) fields() map[string]any {
	m := map[string]any{"apiVersion": r.APIVersion, "kind": r.Kind, "name": r.Name}
	for k, v := range map[string]string{"namespace": r.Namespace, "uid": r.UID, "resourceVersion": r.ResourceVersion} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// sentEvent is an Event the recorder created.
type sentEvent struct {
	namespace, name string
	count           int64
}

// similar is the messages of recent Events of one object, type and reason.
type similar struct {
	messages map[string]struct{}
	last     time.Time
}

// objectTokens is the token bucket of one object's Events.
type objectTokens struct {
	tokens float64
	last   time.Time
}

// correlator holds what a recorder remembers of the Events it sent, each
// cache bounded to eventCacheEntries.
type correlator struct {
	tokens  *boundedCache[*objectTokens]
	similar *boundedCache[*similar]
	sent    *boundedCache[*sentEvent]
}

func newCorrelator() *correlator {
	return &correlator{
		tokens:  newBoundedCache[*objectTokens](eventCacheEntries),
		similar: newBoundedCache[*similar](eventCacheEntries),
		sent:    newBoundedCache[*sentEvent](eventCacheEntries),
	}
}

// allow takes a token of the Event's object and says whether there was one.
func (c *correlator) allow(e *eventRecord, now time.Time) bool {
	key := e.component + "\x00" + e.involved.key()
	b, ok := c.tokens.get(key)
	if !ok {
		b = &objectTokens{tokens: objectEventBurst, last: now}
		c.tokens.put(key, b)
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(objectEventBurst, b.tokens+d.Seconds()/objectEventEvery.Seconds())
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
func (c *correlator) aggregate(e *eventRecord, now time.Time) string {
	group := strings.Join([]string{e.component, e.involved.key(), e.eventType, e.reason}, "\x00")
	s, ok := c.similar.get(group)
	if !ok || now.Sub(s.last) > similarWindow {
		s = &similar{messages: map[string]struct{}{}}
		c.similar.put(group, s)
	}
	s.last = now
	if _, seen := s.messages[e.message]; seen || len(s.messages) < similarEvents {
		s.messages[e.message] = struct{}{}
		return group + "\x00" + e.message
	}
	e.message = cutMessage(combinedPrefix + e.message)
	return group
}

// boundedCache is a map of at most size entries; adding to a full one drops
// the oldest entry.
type boundedCache[V any] struct {
	size    int
	seq     uint64
	entries map[string]cacheEntry[V]
	order   []cacheKey // oldest first; stale when its seq is not the entry's
}

type cacheEntry[V any] struct {
	v   V
	seq uint64
}

type cacheKey struct {
	key string
	seq uint64
}

func newBoundedCache[V any](size int) *boundedCache[V] {
	return &boundedCache[V]{size: size, entries: map[string]cacheEntry[V]{}}
}

func (c *boundedCache[V]) get(key string) (V, bool) {
	e, ok := c.entries[key]
	return e.v, ok
}

func (c *boundedCache[V]) put(key string, v V) {
	if e, ok := c.entries[key]; ok {
		c.entries[key] = cacheEntry[V]{v: v, seq: e.seq}
		return
	}
	for len(c.entries) >= c.size && len(c.order) > 0 {
		oldest := c.order[0]
		c.order = c.order[1:]
		if e, ok := c.entries[oldest.key]; ok && e.seq == oldest.seq {
			delete(c.entries, oldest.key)
		}
	}
	c.seq++
	c.entries[key] = cacheEntry[V]{v: v, seq: c.seq}
	c.order = append(c.order, cacheKey{key: key, seq: c.seq})
	if len(c.order) > 2*c.size {
		c.compact()
	}
}

func (c *boundedCache[V]) remove(key string) {
	delete(c.entries, key)
}

// compact drops the stale keys of order, those removed since they were put.
func (c *boundedCache[V]) compact() {
	live := make([]cacheKey, 0, len(c.entries))
	for _, k := range c.order {
		if e, ok := c.entries[k.key]; ok && e.seq == k.seq {
			live = append(live, k)
		}
	}
	c.order = live
}
