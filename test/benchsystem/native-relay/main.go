// Command native-relay is test/guests/relay as an ordinary client-go
// program: it forwards the data of ConfigMap hop-<i> to ConfigMap hop-<i+1>
// in one namespace, with a shared informer on the ConfigMaps labelled
// bench.wasm.io/hop=<i>, a rate-limited work queue and one worker. It is the
// native side of make bench-system's chain.
//
//	native-relay --kubeconfig=K --namespace=bench-chain --hop=3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// hopLabel carries the hop number of a ConfigMap of the chain.
const hopLabel = "bench.wasm.io/hop"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "native-relay:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kubeconfig = flag.String("kubeconfig", "", "kubeconfig of the cluster (empty: in-cluster)")
		namespace  = flag.String("namespace", "", "namespace of the chain")
		hop        = flag.Int("hop", 0, "the hop this controller forwards: hop-<i> to hop-<i+1>")
	)
	klog.InitFlags(nil)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig[%s]: %w", *kubeconfig, err)
	}
	cfg.UserAgent = "native-relay"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	r := &relay{client: client, namespace: *namespace, hop: *hop,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "native-relay"})}
	f := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute, informers.WithNamespace(*namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = hopLabel + "=" + strconv.Itoa(*hop) }))
	inf := f.Core().V1().ConfigMaps()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			r.queue.Add(key)
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	r.configMaps = inf.Lister()
	f.Start(ctx.Done())
	defer f.Shutdown()
	defer r.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return fmt.Errorf("caches did not sync: %w", context.Cause(ctx))
	}
	klog.InfoS("caches synced")
	go wait.UntilWithContext(ctx, r.worker, time.Second)
	<-ctx.Done()
	return nil
}

type relay struct {
	client     kubernetes.Interface
	namespace  string
	hop        int
	configMaps listersv1.ConfigMapLister
	queue      workqueue.TypedRateLimitingInterface[string]
}

func (r *relay) worker(ctx context.Context) {
	for {
		key, quit := r.queue.Get()
		if quit {
			return
		}
		// As wasm-apiserver does at -v=4: make bench-system reads the time
		// of each reconcile entry from this line.
		klog.V(4).InfoS("Reconciling", "key", key)
		if err := r.reconcile(ctx, key); err != nil {
			klog.ErrorS(err, "reconcile failed", "key", key)
			r.queue.AddRateLimited(key)
		} else {
			r.queue.Forget(key)
		}
		r.queue.Done(key)
	}
}

// reconcile writes the data of hop-<i> to hop-<i+1> with one server-side
// apply, as the guest does.
func (r *relay) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil || name != hopName(r.hop) {
		return nil
	}
	in, err := r.configMaps.ConfigMaps(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	out := corev1apply.ConfigMap(hopName(r.hop+1), ns).
		WithLabels(map[string]string{hopLabel: strconv.Itoa(r.hop + 1)}).
		WithData(in.Data)
	_, err = r.client.CoreV1().ConfigMaps(ns).Apply(ctx, out, metav1.ApplyOptions{FieldManager: "relay", Force: true})
	return err
}

func hopName(i int) string { return "hop-" + strconv.Itoa(i) }
