package validation

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers"
	"github.com/wasm-apiserver/wasm-apiserver/pkg/wakerule"
)

// RuleChecker checks the CEL wake rules of a WasmController. The
// *wakerule.Compiler the host compiles rules with is one: admission and the
// host share it.
//
// # Notes
//
// A rule being written is checked in wakerule.NewExpressions, so that a
// server rolled back to the compatibility version still compiles it. A rule
// an update leaves as the stored object has it is checked in
// wakerule.StoredExpressions, where it runs: an object whose rule was
// written by a newer server, or before the compatibility version was
// lowered, can still be updated.
type RuleChecker interface {
	Check(kind wakerule.Kind, expression string, env wakerule.Environment) error
}

// ruleValidator checks the wake rules of one spec, knowing the rules of
// the stored spec it replaces.
type ruleValidator struct {
	checker RuleChecker
	// stored holds the expressions of the stored spec, by kind.
	stored map[wakerule.Kind]sets.Set[string]
}

// newRuleValidator returns the validator of a spec replacing old (nil on
// create).
func newRuleValidator(checker RuleChecker, old *controllers.WasmControllerSpec) ruleValidator {
	v := ruleValidator{checker: checker, stored: map[wakerule.Kind]sets.Set[string]{
		wakerule.WakeWhen: sets.New[string](), wakerule.Enqueue: sets.New[string](),
	}}
	if old == nil {
		return v
	}
	for _, w := range old.Watches {
		if w.WakeWhen != "" {
			v.stored[wakerule.WakeWhen].Insert(w.WakeWhen)
		}
		if w.Enqueue != "" {
			v.stored[wakerule.Enqueue].Insert(w.Enqueue)
		}
	}
	return v
}

// validate checks one rule: as stored when the stored spec has the same
// rule, as written otherwise.
func (v ruleValidator) validate(kind wakerule.Kind, expr string, fldPath *field.Path) field.ErrorList {
	if v.checker == nil {
		return field.ErrorList{field.InternalError(fldPath, errors.New("no wake rule checker configured"))}
	}
	env := wakerule.NewExpressions
	if v.stored[kind].Has(expr) {
		env = wakerule.StoredExpressions
	}
	err := v.checker.Check(kind, expr, env)
	if err == nil {
		return nil
	}
	if ruleErr, ok := errors.AsType[*wakerule.Error](err); ok {
		if ruleErr.Type == wakerule.ErrorCost {
			return field.ErrorList{field.Forbidden(fldPath, ruleErr.Detail)}
		}
		return field.ErrorList{field.Invalid(fldPath, expr, ruleErr.Detail)}
	}
	return field.ErrorList{field.InternalError(fldPath, fmt.Errorf("checking the rule: %w", err))}
}
