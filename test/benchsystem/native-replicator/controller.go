package main

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

const (
	// sourceLabel marks a ConfigMap to replicate.
	sourceLabel = "wasm.io/replicate"
	// targetLabel marks a namespace that receives the copies.
	targetLabel = "wasm.io/replicate-configmaps"
	// copyLabel marks a copy with its source, as "<namespace>.<name>".
	copyLabel = "wasm.io/replicated-from"
	// maxLabelValue is the longest label value Kubernetes accepts.
	maxLabelValue = 63
)

// controller replicates ConfigMaps. Keys in its queue are "namespace/name"
// for a source ConfigMap and "name" for a namespace, as in the Wasm example.
type controller struct {
	client     kubernetes.Interface
	factories  []informers.SharedInformerFactory
	configMaps []listersv1.ConfigMapLister
	namespaces listersv1.NamespaceLister
	synced     []cache.InformerSynced
	// sources selects the sources whose events wake this controller, as a
	// WasmController's watch labelSelector does; everything if nil.
	sources labels.Selector
	queue   workqueue.TypedRateLimitingInterface[string]
}

// newController watches ConfigMaps in each of scopes (all namespaces when
// scopes is empty) and the namespaces that match nsSelector.
func newController(client kubernetes.Interface, scopes []string, nsSelector string, resync time.Duration) *controller {
	c := &controller{
		client: client,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "native-replicator"}),
	}
	if len(scopes) == 0 {
		scopes = []string{metav1.NamespaceAll}
	}
	for _, ns := range scopes {
		f := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithNamespace(ns))
		inf := f.Core().V1().ConfigMaps()
		_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.configMapChanged(nil, obj) },
			UpdateFunc: c.configMapChanged,
			DeleteFunc: func(obj any) { c.configMapChanged(obj, nil) },
		})
		c.configMaps = append(c.configMaps, inf.Lister())
		c.synced = append(c.synced, inf.Informer().HasSynced)
		c.factories = append(c.factories, f)
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = nsSelector }))
	nsInf := f.Core().V1().Namespaces()
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.namespaceChanged(nil, obj) },
		UpdateFunc: c.namespaceChanged,
	})
	c.namespaces = nsInf.Lister()
	c.synced = append(c.synced, nsInf.Informer().HasSynced)
	c.factories = append(c.factories, f)
	return c
}

// configMapChanged enqueues a source that appeared, went or changed, and
// the source of a copy that someone else changed or deleted.
func (c *controller) configMapChanged(oldObj, newObj any) {
	if d, ok := oldObj.(cache.DeletedFinalStateUnknown); ok {
		oldObj = d.Obj
	}
	oldCM, _ := oldObj.(*corev1.ConfigMap)
	newCM, _ := newObj.(*corev1.ConfigMap)
	cm := newCM
	if cm == nil {
		cm = oldCM
	}
	if cm == nil {
		return
	}
	isSource := func(o *corev1.ConfigMap) bool { return o != nil && o.Labels[sourceLabel] == "true" }
	if (isSource(oldCM) || isSource(newCM)) && c.wakesFor(cm) {
		if oldCM == nil || newCM == nil || !maps.Equal(oldCM.Data, newCM.Data) ||
			!equalBinary(oldCM.BinaryData, newCM.BinaryData) || !maps.Equal(oldCM.Labels, newCM.Labels) {
			c.queue.Add(cm.Namespace + "/" + cm.Name)
		}
	}
	if from, ok := cm.Labels[copyLabel]; ok && oldCM != nil {
		if ns, name, ok := splitRef(from); ok {
			if src, err := c.getConfigMap(ns, name); c.sources == nil || (err == nil && c.wakesFor(src)) {
				c.queue.Add(ns + "/" + name)
			}
		}
	}
}

// wakesFor says whether events of the source cm wake this controller.
func (c *controller) wakesFor(cm *corev1.ConfigMap) bool {
	return c.sources == nil || c.sources.Matches(labels.Set(cm.Labels))
}

// namespaceChanged enqueues a namespace whose target label changed.
func (c *controller) namespaceChanged(oldObj, newObj any) {
	ns, ok := newObj.(*corev1.Namespace)
	if !ok {
		return
	}
	old := ""
	if o, ok := oldObj.(*corev1.Namespace); ok {
		old = o.Labels[targetLabel]
	}
	if ns.Labels[targetLabel] != old {
		c.queue.Add(ns.Name)
	}
}

// Run starts the informers and one worker and blocks until ctx is done.
func (c *controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	for _, f := range c.factories {
		f.Start(ctx.Done())
	}
	defer func() {
		for _, f := range c.factories {
			f.Shutdown()
		}
	}()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("caches did not sync: %w", context.Cause(ctx))
	}
	klog.InfoS("caches synced")
	go wait.UntilWithContext(ctx, c.worker, time.Second)
	<-ctx.Done()
	return nil
}

func (c *controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	// As wasm-apiserver does at -v=4: make bench-system reads the time of
	// each reconcile entry from this line.
	klog.V(4).InfoS("Reconciling", "key", key)
	if err := c.reconcile(ctx, key); err != nil {
		klog.ErrorS(err, "reconcile failed", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}
