package wakerule

import (
	"context"
	"fmt"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// EvalTimeout bounds one evaluation in wall time, besides the cost limit:
// cel-go's cost tracking makes comprehensions over long lists much slower
// than their cost says, so a deadline is what keeps the event path bounded.
const EvalTimeout = 50 * time.Millisecond

// Event is what a rule is evaluated against.
type Event struct {
	// Type is ADDED, MODIFIED or DELETED.
	Type string
	// Object is the object after the event (before it, for DELETED).
	Object map[string]any
	// OldObject is the object before a MODIFIED event, nil otherwise.
	OldObject map[string]any
}

func (e Event) activation() map[string]any {
	var old any
	if e.OldObject != nil {
		old = e.OldObject
	}
	return map[string]any{VarObject: e.Object, VarOldObject: old, VarEventType: e.Type}
}

// eval runs the rule with the cost limit and EvalTimeout.
func (r *Rule) eval(ctx context.Context, ev Event) (ref.Val, error) {
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	val, _, err := r.Program.ContextEval(ctx, ev.activation())
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", r.Kind, r.Expression, err)
	}
	return val, nil
}

// Wakes evaluates a wakeWhen rule.
//
// # Errors
//
// The evaluation failed (a missing field, the cost limit, the deadline) or
// did not return a bool; the event does not wake then.
func (r *Rule) Wakes(ctx context.Context, ev Event) (bool, error) {
	val, err := r.eval(ctx, ev)
	if err != nil {
		return false, err
	}
	b, ok := val.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%s %q returned %s, not bool", r.Kind, r.Expression, val.Type().TypeName())
	}
	return bool(b), nil
}

// Keys evaluates an enqueue rule into "namespace/name" keys.
//
// # Errors
//
// The evaluation failed or returned something other than a string or a
// list of strings.
func (r *Rule) Keys(ctx context.Context, ev Event) ([]string, error) {
	val, err := r.eval(ctx, ev)
	if err != nil {
		return nil, err
	}
	switch v := val.(type) {
	case types.String:
		return []string{string(v)}, nil
	case traits.Lister:
		var keys []string
		for it := v.Iterator(); it.HasNext() == types.True; {
			s, ok := it.Next().(types.String)
			if !ok {
				return nil, fmt.Errorf("%s %q returned a list holding a non-string", r.Kind, r.Expression)
			}
			keys = append(keys, string(s))
		}
		return keys, nil
	}
	return nil, fmt.Errorf("%s %q returned %s, not a string or a list of strings", r.Kind, r.Expression, val.Type().TypeName())
}
