package main

import (
	"context"
	"errors"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// reconcile handles one key: "namespace/name" of a source, "name" of a
// target namespace.
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
