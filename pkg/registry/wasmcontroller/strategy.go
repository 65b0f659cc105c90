// Package wasmcontroller stores WasmControllers: how they are created,
// updated, validated and shown as a table.
package wasmcontroller

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
)

// Strategy implements create, update and delete of the main resource.
type Strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	// ceilings bound the limits a WasmController may ask for, and its
	// default limits.
	ceilings validation.Ceilings
	// rules checks the wake rules, as the host compiles them.
	rules validation.RuleChecker
}

// NewStrategy returns the strategy of the main resource, which refuses
// limits over the administrator's ceilings and wake rules rules refuses.
func NewStrategy(typer runtime.ObjectTyper, ceilings validation.Ceilings, rules validation.RuleChecker) Strategy {
	return Strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator, ceilings: ceilings, rules: rules}
}

var _ rest.RESTCreateStrategy = Strategy{}
var _ rest.RESTDeleteStrategy = Strategy{}
var _ rest.ResetFieldsStrategy = Strategy{}

func (Strategy) NamespaceScoped() bool { return true }

// GetResetFields says which fields server-side apply must not take from a
// write to the main resource: the status belongs to the host.
func (Strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"controllers.wasm.io/v1alpha1": fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// PrepareForCreate sets the status to Pending, starts the generation at 1
// and fills the limits left empty.
func (s Strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	wc := obj.(*controllers.WasmController)
	wc.Status = controllers.WasmControllerStatus{Phase: controllers.PhasePending}
	wc.Generation = 1
	defaultLimits(&wc.Spec.Limits, s.ceilings)
}

// PrepareForUpdate keeps the stored status, fills the limits left empty and
// bumps the generation when the spec changes.
func (s Strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	wc := obj.(*controllers.WasmController)
	oldWC := old.(*controllers.WasmController)
	wc.Status = oldWC.Status
	defaultLimits(&wc.Spec.Limits, s.ceilings)
	if !apiequality.Semantic.DeepEqual(wc.Spec, oldWC.Spec) {
		wc.Generation = oldWC.Generation + 1
	}
}

// Validate checks a new WasmController, its limits within the ceilings and
// its wake rules as written (validation.RuleChecker).
func (s Strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateWasmController(obj.(*controllers.WasmController), s.ceilings, s.rules)
}

func (Strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (Strategy) AllowCreateOnUpdate(context.Context) bool { return false }

func (Strategy) AllowUnconditionalUpdate(context.Context) bool { return true }

func (Strategy) Canonicalize(runtime.Object) {}

// ValidateUpdate checks a changed WasmController; the limits it changes
// must be within the ceilings, those it leaves may stay over them, and the
// wake rules it leaves are checked as stored.
func (s Strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateWasmControllerUpdate(obj.(*controllers.WasmController), old.(*controllers.WasmController), s.ceilings, s.rules)
}

func (Strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// StatusStrategy implements updates through the status subresource.
type StatusStrategy struct {
	Strategy
}

// NewStatusStrategy returns the strategy of the status subresource, which
// leaves the spec, and so its limits, as stored.
func NewStatusStrategy(typer runtime.ObjectTyper) StatusStrategy {
	return StatusStrategy{Strategy{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator}}
}

// GetResetFields says which fields a write to /status must not change: all
// but the status.
func (StatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"controllers.wasm.io/v1alpha1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata", "labels"),
			fieldpath.MakePathOrDie("metadata", "annotations"),
			fieldpath.MakePathOrDie("metadata", "finalizers"),
			fieldpath.MakePathOrDie("metadata", "ownerReferences"),
		),
	}
}

// PrepareForUpdate keeps everything but the status as stored.
func (StatusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	wc := obj.(*controllers.WasmController)
	oldWC := old.(*controllers.WasmController)
	wc.Spec = oldWC.Spec
	wc.Labels = oldWC.Labels
	wc.Annotations = oldWC.Annotations
	wc.Finalizers = oldWC.Finalizers
	wc.OwnerReferences = oldWC.OwnerReferences
}

func (StatusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateWasmControllerStatusUpdate(obj.(*controllers.WasmController), old.(*controllers.WasmController))
}

// GetAttrs returns the labels and fields of a WasmController for selectors.
func GetAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	wc, ok := obj.(*controllers.WasmController)
	if !ok {
		return nil, nil, fmt.Errorf("object of type %T is not a WasmController", obj)
	}
	fs := generic.ObjectMetaFieldsSet(&wc.ObjectMeta, true)
	fs["status.phase"] = string(wc.Status.Phase)
	return wc.Labels, fs, nil
}

// Match is the filter used by the generic registry for list and watch.
func Match(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: GetAttrs}
}
