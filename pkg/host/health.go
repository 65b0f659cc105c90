package host

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
	wasmruntime "github.com/wasm-apiserver/wasm-apiserver/pkg/runtime"
)

const (
	// failingAfter is how many reconciles in a row must fail, whatever
	// failed, before Ready turns False: one failure is often a conflict
	// the retry resolves, three in a row is a controller that does not
	// work. A guest that traps, times out, runs out of memory or cannot
	// start turns Ready False at the first failure.
	failingAfter = 3
	// maxErrorLines and maxErrorBytes bound a failure's text in status,
	// Events and the Info log: a trap's message is followed by the guest's
	// whole stack trace, which only the log at verbosity 4 shows.
	maxErrorLines = 3
	maxErrorBytes = 1024
	// minRedactedLen is the shortest part of a key that is taken out of
	// failure messages: shorter ones would garble the message and say
	// little.
	minRedactedLen = 4
	// storageFailedMessage is what status and Events say of a wake that
	// the server's storage failed.
	storageFailedMessage = "the server's storage failed while starting the guest; the wake is retried (the server's log says why)"
)

// reportGuestHealth keeps Ready honest: False while the guest traps, times
// out, exceeds its memory or fails to start, and once failingAfter
// reconciles in a row failed; True again after the next success. failures
// is the number of reconciles failed in a row, this one included.
func (c *controller) reportGuestHealth(err error, key wakeKey, failures int64) {
	var reason string
	switch {
	case err == nil:
		if c.unhealthy.CompareAndSwap(true, false) {
			c.status.setCondition(c.wc.Generation, v1alpha1.ConditionReady, true, "Running", "the controller wakes on its events")
		}
		return
	case errors.Is(err, wasmruntime.ErrStorage):
		reason = ReasonStorageFailed // the server's, not the guest's
	case errors.Is(err, wasmruntime.ErrTrap):
		reason = "GuestTrapped"
	case errors.Is(err, wasmruntime.ErrTimeout):
		reason = "ReconcileTimeout"
	case errors.Is(err, wasmruntime.ErrMemoryLimit):
		reason = "MemoryLimitExceeded"
	case errors.Is(err, wasmruntime.ErrExited):
		reason = "GuestExited"
	default:
		if _, guest := errors.AsType[*wasmruntime.GuestError](err); guest {
			if failures < failingAfter {
				return // the controller works, the object may not
			}
			reason = "ReconcileFailing"
		} else {
			reason = "GuestFailed"
		}
	}
	msg := publicError(err, key)
	if failures > 1 {
		msg = fmt.Sprintf("%d reconciles failed in a row; last: %s", failures, msg)
	}
	// The first failure is written at once; the count of later ones with
	// the next coalesced write, so that a failing guest is not a write per
	// reconcile.
	wasUnhealthy := c.unhealthy.Swap(true)
	c.status.setConditionCoalesced(wasUnhealthy, c.wc.Generation, v1alpha1.ConditionReady, false, reason, msg)
}

// publicError is a reconcile failure as status and Events show it. Anyone
// who may read the WasmController reads those, not only who may read what
// its ServiceAccount reads, so the key the guest was given, which an
// enqueue rule may have built from an object's data, is taken out of the
// guest's message, and the message is cut to its first lines.
func publicError(err error, key wakeKey) string {
	if errors.Is(err, wasmruntime.ErrStorage) {
		// The server's files are its business; the log names them.
		return storageFailedMessage
	}
	msg := compactError(err)
	for _, part := range []string{key.String(), key.Name, key.Namespace} {
		if len(part) >= minRedactedLen {
			msg = strings.ReplaceAll(msg, part, "<key>")
		}
	}
	return msg
}

// compactError is err's message on one line: its first maxErrorLines
// lines, at most maxErrorBytes long.
func compactError(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	kept := make([]string, 0, maxErrorLines)
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" && len(kept) < maxErrorLines {
			kept = append(kept, l)
		}
	}
	msg := strings.Join(kept, " | ")
	if len(lines) > maxErrorLines {
		msg += " | …"
	}
	if len(msg) > maxErrorBytes {
		cut := maxErrorBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// ruleFailure is a failed wake rule evaluation as status shows it: which
// rule failed and how, without the values it met. CEL's messages quote
// them ("no such key: <a key read from the object>").
func ruleFailure(err error) string {
	msg := err.Error()
	inner := errors.Unwrap(err)
	if inner == nil {
		return compactError(err) // the rule's result type only
	}
	if !strings.HasSuffix(msg, inner.Error()) {
		return "evaluation failed"
	}
	kind, _, _ := strings.Cut(inner.Error(), ":")
	return strings.TrimSuffix(msg, inner.Error()) + strings.TrimSpace(kind)
}

// logFailure logs a failed reconcile on one line; the whole message, with
// a trap's stack trace, at verbosity 4.
func (c *controller) logFailure(key wakeKey, reason string, err error) {
	short := compactError(err)
	c.logger.Info("Reconcile failed", "key", key.String(), "reason", reason, "error", short)
	if full := err.Error(); full != short {
		c.logger.V(4).Info("Reconcile failure in full", "key", key.String(), "error", full)
	}
}
