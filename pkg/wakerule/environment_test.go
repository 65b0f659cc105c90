package wakerule

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/util/version"
)

// TestCompiler_Environments: an expression using a library newer than the
// compatibility version is refused as written (a server rolled back to
// that version could not compile it), but compiles and runs once stored
// (a rule a newer server stored keeps running). The lists library's
// includes() arrived in Kubernetes 1.37.
func TestCompiler_Environments(t *testing.T) {
	c, err := NewCompiler(version.MajorMinor(1, 36))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		kind      Kind
		expr      string
		wantNew   bool // valid as written
		wantStore bool // valid as stored
	}{
		{name: "a library of the compatibility version", kind: WakeWhen, expr: "eventType == 'ADDED'", wantNew: true, wantStore: true},
		{name: "a library newer than the compatibility version", kind: WakeWhen,
			expr: "['ADDED', 'MODIFIED'].includes(eventType)", wantStore: true},
		{name: "a library newer than the compatibility version, enqueue", kind: Enqueue,
			expr: "[object.metadata.name].includes('a') ? 'ns/a' : 'ns/b'", wantStore: true},
		{name: "wrong in both", kind: WakeWhen, expr: "eventType.nope()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, env := range []struct {
				env  Environment
				want bool
			}{{NewExpressions, tt.wantNew}, {StoredExpressions, tt.wantStore}} {
				err := c.Check(tt.kind, tt.expr, env.env)
				if (err == nil) != env.want {
					t.Errorf("Check(%s) = %v, want valid %v", env.env, err, env.want)
				}
				if _, ok := errors.AsType[*Error](err); err != nil && !ok {
					t.Errorf("Check(%s) = %T, want an *Error", env.env, err)
				}
			}
			rule, err := c.Compile(tt.kind, tt.expr)
			if (err == nil) != tt.wantStore {
				t.Fatalf("Compile = %v, want compiled %v: rules run as stored", err, tt.wantStore)
			}
			if rule == nil || tt.kind != WakeWhen {
				return
			}
			if _, err := rule.Wakes(t.Context(), Event{Type: "ADDED", Object: map[string]any{}}); err != nil {
				t.Errorf("Wakes: %v", err)
			}
		})
	}
}
