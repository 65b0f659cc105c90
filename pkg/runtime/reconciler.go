package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// A bundle is a module holding several reconcilers by name; it exports
// select_reconciler (docs/abi.md). Every instance is told which reconciler
// it runs before its first reconcile, so the controllers running one bundle
// share its compiled code (one Module per digest) while each runs its own
// reconciler in instances of its own.

// ErrReconcilerNotFound: the module has no reconciler of the name selected.
// It is permanent for the module and the name. The error is a
// *ReconcilerError.
var ErrReconcilerNotFound = errors.New("reconciler not found")

// ReconcilerError says why a module cannot run the reconciler selected.
type ReconcilerError struct {
	// Name is the reconciler selected; empty for the module's default.
	Name string
	// Reason is the guest's own explanation, or the host's when the module
	// cannot select reconcilers at all.
	Reason string
}

func (e *ReconcilerError) Error() string {
	what := fmt.Sprintf("reconciler %q", e.Name)
	if e.Name == "" {
		what = "the default reconciler"
	}
	if e.Reason == "" {
		return fmt.Sprintf("the module cannot run %s", what)
	}
	return fmt.Sprintf("the module cannot run %s: %s", what, e.Reason)
}

// Is makes a ReconcilerError match ErrReconcilerNotFound.
func (e *ReconcilerError) Is(target error) bool { return target == ErrReconcilerNotFound }

// Bundle reports whether the module exports select_reconciler, and so may
// hold several reconcilers that InstanceConfig.Reconciler selects by name.
func (m *Module) Bundle() bool { return m.selects }

// noBundle is the error of a name selected in a module that cannot select.
func (m *Module) noBundle(name string) error {
	return &ReconcilerError{Name: name, Reason: "it holds a single reconciler and exports no " + abi.SelectReconcilerExport +
		" (docs/abi.md): leave the reconciler empty, or rebuild the module with an SDK that registers reconcilers by name"}
}

// CheckReconciler checks that the module holds the reconciler cfg selects,
// before any instance needs it: a module that cannot select reconcilers
// holds only the default one; a bundle is asked by starting an instance
// with cfg (closed at once), and a name it holds is kept for the module, so
// that the controllers of one bundle ask once per reconciler. A refusal is
// not kept: it fails its controller's load until its spec changes.
//
// # Errors
//
// A *ReconcilerError (which is ErrReconcilerNotFound) when the module does
// not hold the reconciler. The errors of Instantiate when the instance
// cannot start.
func (m *Module) CheckReconciler(ctx context.Context, cfg InstanceConfig) error {
	if !m.selects {
		if cfg.Reconciler != "" {
			return m.noBundle(cfg.Reconciler)
		}
		return nil
	}
	r := m.runtime
	r.mu.Lock()
	_, known := m.reconcilers[cfg.Reconciler]
	r.mu.Unlock()
	if known {
		return nil
	}
	inst, err := m.Instantiate(ctx, cfg)
	if err != nil {
		return err
	}
	inst.Close(ctx)
	r.mu.Lock()
	if m.reconcilers == nil {
		m.reconcilers = map[string]struct{}{}
	}
	// A guest may say yes to any name a tenant tries: past the bound a yes
	// is not kept, and the next load of that name asks again.
	if len(m.reconcilers) < maxKeptReconcilers {
		m.reconcilers[cfg.Reconciler] = struct{}{}
	}
	r.mu.Unlock()
	return nil
}

// maxKeptReconcilers bounds the names a module keeps as held: more than a
// bundle of many controllers needs, few enough that a guest answering yes
// to every name a tenant tries cannot grow the host's memory.
const maxKeptReconcilers = 256

// selectReconciler tells a fresh guest which reconciler it runs, when its
// module is a bundle. On failure the instance is closed.
func (i *Instance) selectReconciler(ctx context.Context) error {
	fn := i.module.ExportedFunction(abi.SelectReconcilerExport)
	if fn == nil {
		return nil // not a bundle: the default runs, Instantiate checked the name
	}
	input, err := json.Marshal(abi.Selection{Reconciler: i.cfg.Reconciler})
	if err != nil {
		i.closeLocked(ctx)
		return err
	}
	c := &call{input: input, selecting: true}
	ctx = withCall(withInstance(ctx, i), c)
	i.callCtx = ctx
	defer func() { i.callCtx = nil }()
	ret, err := fn.Call(ctx, uint64(len(input)))
	if err != nil {
		return i.classify(ctx, err, "selecting its reconciler")
	}
	if status := api.DecodeU32(ret[0]); status != 0 {
		i.closeLocked(ctx)
		reason := truncateReason(c.result.Error)
		if reason == "" {
			reason = fmt.Sprintf("%s returned %d", abi.SelectReconcilerExport, status)
		}
		return &ReconcilerError{Name: i.cfg.Reconciler, Reason: reason}
	}
	return nil
}

// maxReasonBytes bounds the guest's reason for refusing a reconciler: it
// ends up in the controller's status and the server's log.
const maxReasonBytes = 1 << 10

// truncateReason cuts s to at most maxReasonBytes, on a UTF-8 boundary.
func truncateReason(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	cut := maxReasonBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// confirmReconciler asks a guest restored from a snapshot to confirm the
// reconciler it runs, within the instance's InitTimeout. On failure the
// instance is closed.
func (i *Instance) confirmReconciler(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, i.cfg.InitTimeout)
	defer cancel()
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.selectReconciler(ctx)
}
