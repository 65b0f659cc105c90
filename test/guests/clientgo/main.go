// Command clientgo is a test guest built on client-go's typed clientset,
// talking to the host through sdk/transport: each reconcile GETs the
// ConfigMap named by the key. It measures what a large guest costs (about
// 57 MB of WebAssembly); it is not in build.sh's default set.
package main

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/transport"
)

var clientset *kubernetes.Clientset

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
	clientset = cs
	sdk.Register(sdk.ReconcilerFunc(reconcile))
}

func reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	cm, err := clientset.CoreV1().ConfigMaps(req.Namespace).Get(ctx, req.Name, metav1.GetOptions{})
	if err != nil {
		return sdk.Result{}, fmt.Errorf("GET configmap %s: %w", req.String(), err)
	}
	sdk.Info("clientgo reconcile", "key", req.String(), "uid", string(cm.UID))
	return sdk.Result{}, nil
}

func main() {}
