package host

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/validation"
)

// ReasonOverCeiling is the reason of a controller whose limits exceed the
// administrator's ceilings.
const ReasonOverCeiling = "OverCeiling"

// ReasonMemoryLimitTooLow is the reason of a controller whose module needs
// more memory to start than spec.limits.memory allows.
const ReasonMemoryLimitTooLow = "MemoryLimitTooLow"

// specError is a failure that only a change of the spec can mend: it is
// reported and not retried.
type specError struct {
	reason string
	err    error
}

func (e *specError) Error() string { return e.err.Error() }
func (e *specError) Unwrap() error { return e.err }

// checkCeilings refuses a controller whose limits exceed the ceilings the
// server runs with. Admission refuses such limits too, but lets an object
// keep the values it was stored with before a ceiling was lowered: the host
// must still not run it over the ceiling.
func (h *Host) checkCeilings(wc *v1alpha1.WasmController) error {
	var spec controllers.WasmControllerSpec
	if err := v1alpha1.Convert_v1alpha1_WasmControllerSpec_To_controllers_WasmControllerSpec(&wc.Spec, &spec, nil); err != nil {
		return err
	}
	if errs := validation.ValidateLimitsWithin(&spec, h.cfg.Ceilings, field.NewPath("spec")); len(errs) > 0 {
		return &specError{reason: ReasonOverCeiling, err: errs.ToAggregate()}
	}
	return nil
}

// isSpecError says whether err is a specError, and its reason.
func isSpecError(err error) (string, bool) {
	var se *specError
	if errors.As(err, &se) {
		return se.reason, true
	}
	return "", false
}
