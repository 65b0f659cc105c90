package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	sources       labels.Selector
	queue         workqueue.TypedRateLimitingInterface[string]
	logReconciles bool
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
	if c.logReconciles {
		klog.InfoS("reconcile", "key", key, "unixNano", time.Now().UnixNano())
	}
	if err := c.reconcile(ctx, key); err != nil {
		klog.ErrorS(err, "reconcile failed", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *controller) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller makes
	}
	if ns == "" {
		return c.reconcileNamespace(ctx, name)
	}
	return c.reconcileSource(ctx, ns, name)
}

// reconcileSource brings the copies of one source ConfigMap in line with it.
func (c *controller) reconcileSource(ctx context.Context, namespace, name string) error {
	ref := sourceRef(namespace, name)
	src, err := c.getConfigMap(namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		klog.InfoS("source is gone, deleting its copies", "source", ref)
		return c.deleteCopies(ctx, ref, nil)
	case err != nil:
		return err
	case src.Labels[sourceLabel] != "true" || src.DeletionTimestamp != nil:
		klog.InfoS("source is no longer replicated, deleting its copies", "source", ref)
		return c.deleteCopies(ctx, ref, nil)
	case len(ref) > maxLabelValue:
		klog.ErrorS(nil, "cannot replicate: namespace and name are too long for the copy label", "source", ref)
		return nil
	}
	targets, err := c.targetNamespaces()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	var errs []error
	for _, ns := range targets {
		if ns == namespace {
			continue
		}
		keep[ns] = true
		errs = append(errs, c.ensureCopy(ctx, ns, src))
	}
	errs = append(errs, c.deleteCopies(ctx, ref, keep))
	return errors.Join(errs...)
}

// reconcileNamespace brings every source into a target namespace, or
// removes the copies from a namespace that is no longer a target.
func (c *controller) reconcileNamespace(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp != nil) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Labels[targetLabel] != "true" {
		return c.deleteCopiesIn(ctx, name)
	}
	sources, err := c.listConfigMaps(labels.SelectorFromSet(labels.Set{sourceLabel: "true"}))
	if err != nil {
		return err
	}
	var errs []error
	for _, src := range sources {
		if src.Namespace == name || src.DeletionTimestamp != nil || len(sourceRef(src.Namespace, src.Name)) > maxLabelValue {
			continue
		}
		errs = append(errs, c.ensureCopy(ctx, name, src))
	}
	return errors.Join(errs...)
}

// targetNamespaces lists the namespaces that receive copies and are not
// being deleted.
func (c *controller) targetNamespaces() ([]string, error) {
	list, err := c.namespaces.List(labels.SelectorFromSet(labels.Set{targetLabel: "true"}))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ns := range list {
		if ns.DeletionTimestamp == nil {
			names = append(names, ns.Name)
		}
	}
	return names, nil
}

// ensureCopy creates or updates the copy of src in namespace. A ConfigMap of
// the same name that is not a copy of src is left alone and reported.
func (c *controller) ensureCopy(ctx context.Context, namespace string, src *corev1.ConfigMap) error {
	ref := sourceRef(src.Namespace, src.Name)
	existing, err := c.getConfigMap(namespace, src.Name)
	want := desiredCopy(namespace, src)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, want, metav1.CreateOptions{})
		switch {
		case apierrors.IsAlreadyExists(err):
			klog.ErrorS(nil, "a ConfigMap that is not a copy is in the way", "namespace", namespace, "name", src.Name, "source", ref)
			return nil
		case err != nil:
			return err
		}
		klog.InfoS("created copy", "namespace", namespace, "source", ref)
		return nil
	}
	if err != nil {
		return err
	}
	if from := existing.Labels[copyLabel]; from != ref {
		klog.ErrorS(nil, "a ConfigMap that is not a copy is in the way", "namespace", namespace, "name", src.Name, "source", ref, "copyOf", from)
		return nil
	}
	if maps.Equal(existing.Data, want.Data) && equalBinary(existing.BinaryData, want.BinaryData) {
		return nil
	}
	want.ResourceVersion = existing.ResourceVersion
	if _, err := c.client.CoreV1().ConfigMaps(namespace).Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return err
	}
	klog.InfoS("updated copy", "namespace", namespace, "source", ref)
	return nil
}

// deleteCopies deletes the copies of the source ref, except in the
// namespaces in keep.
func (c *controller) deleteCopies(ctx context.Context, ref string, keep map[string]bool) error {
	copies, err := c.listConfigMaps(labels.SelectorFromSet(labels.Set{copyLabel: ref}))
	if err != nil {
		return err
	}
	var errs []error
	for _, cm := range copies {
		if !keep[cm.Namespace] {
			errs = append(errs, c.deleteCopy(ctx, cm))
		}
	}
	return errors.Join(errs...)
}

// deleteCopiesIn deletes every copy in namespace.
func (c *controller) deleteCopiesIn(ctx context.Context, namespace string) error {
	req, err := labels.NewRequirement(copyLabel, "exists", nil)
	if err != nil {
		return err
	}
	copies, err := c.listConfigMaps(labels.NewSelector().Add(*req))
	if err != nil {
		return err
	}
	var errs []error
	for _, cm := range copies {
		if cm.Namespace == namespace {
			errs = append(errs, c.deleteCopy(ctx, cm))
		}
	}
	return errors.Join(errs...)
}

func (c *controller) deleteCopy(ctx context.Context, cm *corev1.ConfigMap) error {
	uid := cm.UID
	err := c.client.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	klog.InfoS("deleted copy", "namespace", cm.Namespace, "name", cm.Name)
	return nil
}

// getConfigMap reads a ConfigMap from whichever informer watches its
// namespace.
func (c *controller) getConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	for _, l := range c.configMaps {
		cm, err := l.ConfigMaps(namespace).Get(name)
		if err == nil || !apierrors.IsNotFound(err) {
			return cm, err
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

// listConfigMaps lists the ConfigMaps of every watched namespace.
func (c *controller) listConfigMaps(sel labels.Selector) ([]*corev1.ConfigMap, error) {
	var all []*corev1.ConfigMap
	for _, l := range c.configMaps {
		list, err := l.List(sel)
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	return all, nil
}

// desiredCopy is the copy of src that belongs in namespace.
func desiredCopy(namespace string, src *corev1.ConfigMap) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      src.Name,
			Labels:    map[string]string{copyLabel: sourceRef(src.Namespace, src.Name)},
		},
		Data:       src.Data,
		BinaryData: src.BinaryData,
	}
}

func equalBinary(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}

// sourceRef is the value of copyLabel for a source: "<namespace>.<name>".
func sourceRef(namespace, name string) string {
	return namespace + "." + name
}

// splitRef splits a sourceRef at its first dot (namespace names have none).
func splitRef(ref string) (namespace, name string, ok bool) {
	namespace, name, ok = strings.Cut(ref, ".")
	return namespace, name, ok && namespace != "" && name != ""
}
