package host

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

const (
	// eventBurst and eventQPS bound the Events the host sends about one
	// WasmController for one reason and message (or, once client-go
	// combines a reason's many messages into one Event, for that reason):
	// a burst, then one every 30 s. Repeats in between are counted on the
	// Event, not sent one by one, so a guest failing in a loop costs the
	// API server a patch every 30 s at most.
	eventBurst = 25
	eventQPS   = 1.0 / 30
	// combinedPrefix starts the message of the Event client-go makes of
	// many Events of one reason with different messages.
	combinedPrefix = "(combined from similar events): "
)

// newEventBroadcaster returns a broadcaster that records Events to the
// cluster. client-go's default filter allows 25 Events per object and
// then one every 5 minutes, whatever their reason: a controller that
// failed 25 times would never report that it loaded again, nor any new
// failure. Here each reason and message has its own allowance, so a new
// one is never silenced by older ones.
func newEventBroadcaster(kube kubernetes.Interface) record.EventBroadcaster {
	b := record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{
		BurstSize:   eventBurst,
		QPS:         eventQPS,
		SpamKeyFunc: eventSpamKey,
	}))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return b
}

// eventSpamKey is the allowance an Event draws on: its object, type,
// reason and message. Events that client-go combined from many messages
// of one reason draw on one allowance for that reason, so that ever-new
// messages do not escape the limit.
func eventSpamKey(e *corev1.Event) string {
	message := e.Message
	if strings.HasPrefix(message, combinedPrefix) {
		message = combinedPrefix
	}
	o := e.InvolvedObject
	return strings.Join([]string{e.Source.Component, e.Source.Host, o.APIVersion, o.Kind, o.Namespace, o.Name,
		string(o.UID), e.Type, e.Reason, message}, "\x00")
}
