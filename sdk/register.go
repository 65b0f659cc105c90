package sdk

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// A module may hold several reconcilers, a bundle: the default one, set by
// Register, and any number registered by name with RegisterNamed. Each
// WasmController running the module selects one (spec.module.reconciler,
// empty for the default), and the host tells every instance which before
// its first reconcile (the select_reconciler export of docs/abi.md). The
// selection is fixed for the instance's life.

// registered is the default Reconciler, the one Register sets.
var registered Reconciler

// named are the Reconcilers RegisterNamed sets, by name.
var named = map[string]Reconciler{}

// selected is the Reconciler the host selected for this instance, nil until
// it selects one (a host that predates bundles never does: the default
// Reconciler runs then); selectedName is its name.
var (
	selected     Reconciler
	selectedName string
)

// Register sets the module's default Reconciler, the one a WasmController
// that names no reconciler runs. Call it from an init function: a c-shared
// module runs package initialization when the host instantiates it but
// never runs main. A later call replaces the Reconciler.
func Register(r Reconciler) {
	registered = r
}

// RegisterNamed adds r to the module's reconcilers under name, making the
// module a bundle: a WasmController runs r when its spec.module.reconciler
// is name. Controllers running one bundle share its compiled code, whichever
// reconciler each selects. Call it from an init function, as Register; a
// later call with the same name replaces the Reconciler.
//
// It panics when name is not a DNS-1123 label (at most 63 lowercase letters,
// digits and '-', starting and ending with a letter or digit): a
// WasmController could never select it. The panic happens during the
// guest's initialization, so no instance of the module can start: the
// module still loads, but its controllers' first wake fails with the trap,
// which the host reports on their status and in its log.
func RegisterNamed(name string, r Reconciler) {
	if !abi.ValidReconcilerName(name) {
		panic(fmt.Sprintf("sdk.RegisterNamed(%q): a reconciler's name must be a DNS-1123 label of at most %d characters", name, abi.MaxReconcilerNameBytes))
	}
	named[name] = r
}

// selectReconciler selects the reconciler of this instance from the JSON
// input of the select_reconciler export. It returns the JSON result to pass
// to result_write, nil when there is nothing to report, and whether the
// module holds the reconciler.
func selectReconciler(input []byte) (result []byte, ok bool) {
	var in abi.Selection
	if err := json.Unmarshal(input, &in); err != nil {
		return encodeResult(Result{}, fmt.Errorf("decoding reconciler selection: %w", err)), false
	}
	if err := choose(in.Reconciler); err != nil {
		return encodeResult(Result{}, err), false
	}
	return nil, true
}

// choose makes the reconciler called name (the default for "") the one
// this instance runs.
func choose(name string) error {
	if selected != nil {
		if name == selectedName {
			return nil
		}
		return fmt.Errorf("this instance already runs reconciler %s; it cannot switch to %s", describe(selectedName), describe(name))
	}
	r := registered
	if name != "" {
		r = named[name]
	}
	if r == nil {
		return unknownReconciler(name)
	}
	selected, selectedName = r, name
	return nil
}

// current returns the Reconciler to run: the one selected, or, when the host
// selected none, the default.
func current() (Reconciler, error) {
	switch {
	case selected != nil:
		return selected, nil
	case registered != nil:
		return registered, nil
	}
	return nil, unknownReconciler("")
}

// unknownReconciler says that the module holds no reconciler called name,
// and which it holds.
func unknownReconciler(name string) error {
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	slices.Sort(names)
	switch {
	case len(names) == 0 && registered == nil:
		return fmt.Errorf("no reconciler registered: call sdk.Register from an init function")
	case name == "":
		return fmt.Errorf("the module has no default reconciler; select one of its reconcilers (%s) with spec.module.reconciler", strings.Join(names, ", "))
	}
	if registered != nil {
		names = append(names, "the default (spec.module.reconciler left empty)")
	}
	return fmt.Errorf("the module has no reconciler named %q; it has: %s", name, strings.Join(names, ", "))
}

// describe names a reconciler in messages.
func describe(name string) string {
	if name == "" {
		return "the default"
	}
	return fmt.Sprintf("%q", name)
}
