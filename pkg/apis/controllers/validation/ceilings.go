package validation

import (
	"bytes"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
)

// The server flags that set each of the Ceilings; refusals name them so a
// tenant knows which setting an administrator would have to raise.
const (
	FlagMaxControllerMemory     = "--max-controller-memory"
	FlagMaxReconcileTimeout     = "--max-reconcile-timeout"
	FlagMaxConcurrentReconciles = "--max-concurrent-reconciles"
	FlagMaxModuleSize           = "--max-module-size"
)

// MaxModuleSizeCeiling bounds Ceilings.ModuleBytes: a module is held whole
// in memory while it is fetched, verified and compiled.
const MaxModuleSizeCeiling = 1 << 30

// Ceilings are the administrator's bounds on what one WasmController may ask
// for, set by the server's flags. They sit under the API's own bounds (4Gi,
// MaxReconcileTimeout, MaxConcurrentReconciles) and are enforced twice: at
// admission, on the fields a write changes, and by the host when it starts a
// controller, on every field, so a ceiling lowered after an object was
// stored still holds.
//
// A zero field sets no ceiling beyond the API's own bounds; the server sets
// every field, and Validate says whether a set of ceilings is usable.
type Ceilings struct {
	// MemoryBytes bounds spec.limits.memory.
	MemoryBytes int64
	// ReconcileTimeout bounds spec.limits.reconcileTimeout.
	ReconcileTimeout time.Duration
	// MaxConcurrentReconciles bounds spec.limits.maxConcurrentReconciles.
	MaxConcurrentReconciles int32
	// ModuleBytes bounds the size of the module: spec.module.inline at
	// admission; modules from other sources when they are fetched.
	ModuleBytes int64
}

// Validate reports every ceiling that is not within the API's own bounds,
// naming the flag that sets it.
func (c Ceilings) Validate() []error {
	var errs []error
	if c.MemoryBytes < minMemory.Value() || c.MemoryBytes > maxMemory.Value() {
		errs = append(errs, fmt.Errorf("%s must be between %s and %s, got %s", FlagMaxControllerMemory,
			minMemory.String(), maxMemory.String(), bytesQuantity(c.MemoryBytes)))
	}
	if c.ReconcileTimeout <= 0 || c.ReconcileTimeout > MaxReconcileTimeout {
		errs = append(errs, fmt.Errorf("%s must be positive and at most %s, got %s", FlagMaxReconcileTimeout,
			MaxReconcileTimeout, c.ReconcileTimeout))
	}
	if c.MaxConcurrentReconciles < 1 || c.MaxConcurrentReconciles > MaxConcurrentReconciles {
		errs = append(errs, fmt.Errorf("%s must be between 1 and %d, got %d", FlagMaxConcurrentReconciles,
			MaxConcurrentReconciles, c.MaxConcurrentReconciles))
	}
	if c.ModuleBytes <= 0 || c.ModuleBytes > MaxModuleSizeCeiling {
		errs = append(errs, fmt.Errorf("%s must be positive and at most %s, got %s", FlagMaxModuleSize,
			bytesQuantity(MaxModuleSizeCeiling), bytesQuantity(c.ModuleBytes)))
	}
	return errs
}

// ValidateLimitsWithin reports every field of spec over the ceilings:
// spec.limits.memory, .reconcileTimeout, .maxConcurrentReconciles and
// spec.module.inline, under fldPath (the path of spec). Empty fields are not
// checked; the server fills them with defaults within the ceilings.
//
// The host calls it before it starts a controller: admission lets an update
// keep a value stored before a ceiling was lowered, the host must still not
// run it.
func ValidateLimitsWithin(spec *controllers.WasmControllerSpec, ceilings Ceilings, fldPath *field.Path) field.ErrorList {
	return validateLimitsWithin(spec, nil, ceilings, fldPath)
}

// validateLimitsWithin is ValidateLimitsWithin that, with old set, passes the
// fields an update leaves as they were: ceilings ratchet, as Kubernetes does
// when validation tightens, so that an object stored under a higher ceiling
// can still be labelled, paused or given a new module.
func validateLimitsWithin(spec, old *controllers.WasmControllerSpec, c Ceilings, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	l, limitsPath := &spec.Limits, fldPath.Child("limits")
	var ol controllers.Limits
	if old != nil {
		ol = old.Limits
	}

	if m := l.Memory; m != nil && c.MemoryBytes > 0 && !(ol.Memory != nil && m.Cmp(*ol.Memory) == 0) {
		if ceiling := bytesQuantity(c.MemoryBytes); m.Cmp(*ceiling) > 0 {
			allErrs = append(allErrs, field.Forbidden(limitsPath.Child("memory"),
				overCeiling(m.String(), ceiling.String(), FlagMaxControllerMemory)))
		}
	}
	if t := l.ReconcileTimeout; t != nil && c.ReconcileTimeout > 0 &&
		!(ol.ReconcileTimeout != nil && t.Duration == ol.ReconcileTimeout.Duration) && t.Duration > c.ReconcileTimeout {
		allErrs = append(allErrs, field.Forbidden(limitsPath.Child("reconcileTimeout"),
			overCeiling(t.Duration.String(), c.ReconcileTimeout.String(), FlagMaxReconcileTimeout)))
	}
	if n := l.MaxConcurrentReconciles; c.MaxConcurrentReconciles > 0 && !(old != nil && n == ol.MaxConcurrentReconciles) &&
		n > c.MaxConcurrentReconciles {
		allErrs = append(allErrs, field.Forbidden(limitsPath.Child("maxConcurrentReconciles"),
			overCeiling(fmt.Sprint(n), fmt.Sprint(c.MaxConcurrentReconciles), FlagMaxConcurrentReconciles)))
	}
	if inline := spec.Module.Inline; c.ModuleBytes > 0 && int64(len(inline)) > c.ModuleBytes &&
		!(old != nil && bytes.Equal(inline, old.Module.Inline)) {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("module", "inline"),
			overCeiling(fmt.Sprintf("a module of %d bytes", len(inline)), bytesQuantity(c.ModuleBytes).String(), FlagMaxModuleSize)))
	}
	return allErrs
}

func overCeiling(value, ceiling, flag string) string {
	return fmt.Sprintf("%s exceeds the server's ceiling of %s (%s)", value, ceiling, flag)
}

// bytesQuantity is n bytes as kubectl prints memory, such as 128Mi.
func bytesQuantity(n int64) *resource.Quantity {
	return resource.NewQuantity(n, resource.BinarySI)
}
