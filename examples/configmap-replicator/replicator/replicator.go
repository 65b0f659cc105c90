// Package replicator is the configmap-replicator controller of
// wasm-apiserver: it copies ConfigMaps labelled wasm.io/replicate=true into
// every namespace labelled wasm.io/replicate-configmaps=true, keeps the copies in step with their
// source, and deletes them when the source goes away.
//
// A key with a namespace names a source ConfigMap; a key without one names a
// namespace, and means "bring every source into this namespace".
package replicator

import (
	"context"
	"errors"
	"reflect"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
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

// New returns the controller, reading and writing through client
// (sdk.DefaultClient in a guest).
func New(client *sdk.Client) sdk.Reconciler {
	return &replicator{client: client}
}

// replicator reconciles sources and target namespaces.
type replicator struct {
	client *sdk.Client
}

// Reconcile implements sdk.Reconciler.
func (r *replicator) Reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	if req.Namespace == "" {
		return sdk.Result{}, r.reconcileNamespace(ctx, req.Name)
	}
	return sdk.Result{}, r.reconcileSource(ctx, req.Namespace, req.Name)
}

// reconcileSource brings the copies of one source ConfigMap in line with it.
func (r *replicator) reconcileSource(ctx context.Context, namespace, name string) error {
	ref := sourceRef(namespace, name)
	src, err := r.client.Get(ctx, sdk.ConfigMaps, namespace, name)
	switch {
	case sdk.IsNotFound(err):
		sdk.Info("source is gone, deleting its copies", "source", ref)
		return r.deleteCopies(ctx, ref, nil)
	case err != nil:
		return err
	case src.GetLabels()[sourceLabel] != "true" || src.GetDeletionTimestamp() != nil:
		sdk.Info("source is no longer replicated, deleting its copies", "source", ref)
		return r.deleteCopies(ctx, ref, nil)
	case len(ref) > maxLabelValue:
		// Retrying cannot help: report it once per wake and succeed.
		sdk.Error(nil, "cannot replicate: namespace and name are too long for the copy label", "source", ref, "max", maxLabelValue)
		return nil
	}

	targets, err := r.targetNamespaces(ctx)
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
		errs = append(errs, r.ensureCopy(ctx, ns, src))
	}
	errs = append(errs, r.deleteCopies(ctx, ref, keep))
	return errors.Join(errs...)
}

// reconcileNamespace brings every source into a target namespace, or
// removes the copies from a namespace that is no longer a target.
func (r *replicator) reconcileNamespace(ctx context.Context, name string) error {
	ns, err := r.client.Get(ctx, sdk.Namespaces, "", name)
	if sdk.IsNotFound(err) || (err == nil && ns.GetDeletionTimestamp() != nil) {
		return nil // its copies go with it
	}
	if err != nil {
		return err
	}
	if ns.GetLabels()[targetLabel] != "true" {
		return r.deleteCopiesIn(ctx, name)
	}
	sources, err := r.client.List(ctx, sdk.ConfigMaps, "", sdk.MatchingLabels{sourceLabel: "true"})
	if err != nil {
		return err
	}
	var errs []error
	for _, src := range sources.Items {
		if src.GetNamespace() == name || src.GetDeletionTimestamp() != nil ||
			len(sourceRef(src.GetNamespace(), src.GetName())) > maxLabelValue {
			continue
		}
		errs = append(errs, r.ensureCopy(ctx, name, src))
	}
	return errors.Join(errs...)
}

// targetNamespaces lists the namespaces that receive copies and are not
// being deleted.
func (r *replicator) targetNamespaces(ctx context.Context) ([]string, error) {
	list, err := r.client.List(ctx, sdk.Namespaces, "", sdk.MatchingLabels{targetLabel: "true"})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ns := range list.Items {
		if ns.GetDeletionTimestamp() == nil {
			names = append(names, ns.GetName())
		}
	}
	return names, nil
}

// ensureCopy creates or updates the copy of src in namespace. A ConfigMap of
// the same name that is not a copy of src is left alone and reported.
func (r *replicator) ensureCopy(ctx context.Context, namespace string, src *sdk.Object) error {
	ref := sourceRef(src.GetNamespace(), src.GetName())
	existing, err := r.client.Get(ctx, sdk.ConfigMaps, namespace, src.GetName())
	if sdk.IsNotFound(err) {
		_, err = r.client.Create(ctx, sdk.ConfigMaps, desiredCopy(namespace, src))
		switch {
		case sdk.IsAlreadyExists(err):
			// Not visible to the controller, so not one of its copies.
			sdk.Error(nil, "a ConfigMap that is not a copy is in the way", "namespace", namespace, "name", src.GetName(), "source", ref)
			return nil
		case err != nil:
			return err
		}
		sdk.Info("created copy", "namespace", namespace, "source", ref)
		return nil
	}
	if err != nil {
		return err
	}
	if from := existing.GetLabels()[copyLabel]; from != ref {
		sdk.Error(nil, "a ConfigMap that is not a copy is in the way", "namespace", namespace, "name", src.GetName(), "source", ref, "copyOf", from)
		return nil
	}
	want := desiredCopy(namespace, src)
	if sameContent(existing, want) {
		return nil
	}
	want.SetResourceVersion(existing.GetResourceVersion())
	if _, err := r.client.Update(ctx, sdk.ConfigMaps, want); err != nil {
		return err
	}
	sdk.Info("updated copy", "namespace", namespace, "source", ref)
	return nil
}

// deleteCopies deletes the copies of the source ref, except in the
// namespaces in keep.
func (r *replicator) deleteCopies(ctx context.Context, ref string, keep map[string]bool) error {
	copies, err := r.client.List(ctx, sdk.ConfigMaps, "", sdk.MatchingLabels{copyLabel: ref})
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range copies.Items {
		if keep[c.GetNamespace()] {
			continue
		}
		errs = append(errs, r.deleteCopy(ctx, c))
	}
	return errors.Join(errs...)
}

// deleteCopiesIn deletes every copy in namespace.
func (r *replicator) deleteCopiesIn(ctx context.Context, namespace string) error {
	copies, err := r.client.List(ctx, sdk.ConfigMaps, namespace, sdk.LabelSelector(copyLabel))
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range copies.Items {
		errs = append(errs, r.deleteCopy(ctx, c))
	}
	return errors.Join(errs...)
}

func (r *replicator) deleteCopy(ctx context.Context, c *sdk.Object) error {
	err := r.client.Delete(ctx, sdk.ConfigMaps, c.GetNamespace(), c.GetName(), sdk.Preconditions{UID: c.GetUID()})
	if err != nil && !sdk.IsNotFound(err) {
		return err
	}
	sdk.Info("deleted copy", "namespace", c.GetNamespace(), "name", c.GetName())
	return nil
}

// desiredCopy is the copy of src that belongs in namespace.
func desiredCopy(namespace string, src *sdk.Object) *sdk.Object {
	c := sdk.NewObject("v1", "ConfigMap", namespace, src.GetName())
	c.SetLabels(map[string]string{copyLabel: sourceRef(src.GetNamespace(), src.GetName())})
	for _, field := range []string{"data", "binaryData"} {
		if v, ok := src.NestedMap(field); ok && len(v) > 0 {
			_ = c.SetNestedField(v, field)
		}
	}
	return c
}

// sameContent reports whether the copy have holds what want does.
func sameContent(have, want *sdk.Object) bool {
	for _, field := range []string{"data", "binaryData"} {
		h, _ := have.NestedMap(field)
		w, _ := want.NestedMap(field)
		if len(h) != len(w) || (len(h) > 0 && !reflect.DeepEqual(h, w)) {
			return false
		}
	}
	return true
}

// sourceRef is the value of copyLabel for a source: "<namespace>.<name>".
// Namespace names have no dots, so the first dot splits it.
func sourceRef(namespace, name string) string {
	return namespace + "." + name
}
