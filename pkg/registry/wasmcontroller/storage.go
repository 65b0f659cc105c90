package wasmcontroller

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
)

// REST is the storage of the wasmcontrollers resource.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}
var _ rest.CategoriesProvider = &REST{}

// ShortNames lets kubectl accept "wc".
func (*REST) ShortNames() []string { return []string{"wc"} }

// Categories puts WasmControllers in "kubectl get all"-style groupings.
func (*REST) Categories() []string { return []string{"wasm"} }

// StatusREST is the storage of the wasmcontrollers/status subresource.
type StatusREST struct {
	store *genericregistry.Store
}

// NewStorage returns the storage of wasmcontrollers and of their status;
// writes of the main resource keep their limits within ceilings and their
// wake rules are checked with rules, the checker the host compiles with.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, ceilings validation.Ceilings,
	rules validation.RuleChecker) (*REST, *StatusREST, error) {
	s := NewStrategy(scheme, ceilings, rules)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &controllers.WasmController{} },
		NewListFunc:               func() runtime.Object { return &controllers.WasmControllerList{} },
		PredicateFunc:             Match,
		DefaultQualifiedResource:  controllers.Resource("wasmcontrollers"),
		SingularQualifiedResource: controllers.Resource("wasmcontroller"),

		CreateStrategy:      s,
		UpdateStrategy:      s,
		DeleteStrategy:      s,
		ResetFieldsStrategy: s,

		TableConvertor: tableConvertor{},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: GetAttrs}); err != nil {
		return nil, nil, fmt.Errorf("completing wasmcontrollers storage: %w", err)
	}

	statusStore := *store
	ss := NewStatusStrategy(scheme)
	statusStore.UpdateStrategy = ss
	statusStore.ResetFieldsStrategy = ss
	return &REST{store}, &StatusREST{store: &statusStore}, nil
}

var _ rest.Patcher = &StatusREST{}

// New returns an empty WasmController.
func (r *StatusREST) New() runtime.Object { return &controllers.WasmController{} }

// Destroy releases nothing: the main resource's store owns the storage.
func (r *StatusREST) Destroy() {}

// Get returns the WasmController, for patches of its status.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update writes the status of a WasmController.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc,
	updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// Never create through the status subresource.
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields says which fields a write to /status must not change.
func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// ConvertToTable shows WasmControllers as the main resource does.
func (r *StatusREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}
