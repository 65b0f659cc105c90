// Command clientgo is a test guest built on client-go's typed clientset,
// talking to the host through sdk/transport: each reconcile GETs the
// ConfigMap named by the key. It measures what a large guest costs (about
// 57 MB of WebAssembly); it is not in build.sh's default set.
//
// For a ConfigMap labeled e2e.wasm.io/record-events=true it also records an
// Event on it with client-go's own recorder (reason RecordedByClientGo),
// whose broadcaster goroutines send it before the reconcile returns, and
// one with the SDK's recorder used as a record.EventRecorder (reason
// RecordedBySDK).
package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/transport"
)

// recordEventsLabel, set to "true" on a ConfigMap, has the guest record
// Events on it.
const recordEventsLabel = "e2e.wasm.io/record-events"

// controller holds the clientset and the two event recorders.
type controller struct {
	clientset   *kubernetes.Clientset
	clientGoRec record.EventRecorder
	sdkRec      record.EventRecorder
}

func init() {
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host:          "http://wasm-apiserver",
		ContentConfig: rest.ContentConfig{ContentType: "application/json"},
		Transport:     transport.New(),
		// No client-side rate limit: client-go's default (5 requests a
		// second) would make a resident guest sleep; the host limits.
		QPS: -1,
	})
	if err != nil {
		panic(err)
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	sdk.Register(&controller{
		clientset:   cs,
		clientGoRec: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "clientgo"}),
		sdkRec:      sdk.NewEventRecorderFor[runtime.Object]("clientgo-sdk", sdk.WithEventKinds(sdk.KindsFrom(scheme.Scheme))),
	})
}

func (c *controller) Reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	cm, err := c.clientset.CoreV1().ConfigMaps(req.Namespace).Get(ctx, req.Name, metav1.GetOptions{})
	if err != nil {
		return sdk.Result{}, fmt.Errorf("GET configmap %s: %w", req.String(), err)
	}
	sdk.Info("clientgo reconcile", "key", req.String(), "uid", string(cm.UID))
	if cm.Labels[recordEventsLabel] == "true" {
		c.clientGoRec.Eventf(cm, corev1.EventTypeNormal, "RecordedByClientGo", "seen with %d keys", len(cm.Data))
		c.sdkRec.Eventf(cm, corev1.EventTypeNormal, "RecordedBySDK", "seen with %d keys", len(cm.Data))
	}
	return sdk.Result{}, nil
}

func main() {}
