package wakerule

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
)

// testCompiler is shared by the tests: building the environment is slow.
var testCompiler = sync.OnceValues(func() (*Compiler, error) { return NewCompiler(nil) })

func newTestCompiler(tb testing.TB) *Compiler {
	tb.Helper()
	c, err := testCompiler()
	if err != nil {
		tb.Fatalf("NewCompiler: %v", err)
	}
	return c
}

func TestKind_String(t *testing.T) {
	if got := WakeWhen.String(); got != "wakeWhen" {
		t.Errorf("WakeWhen.String() = %q, want wakeWhen", got)
	}
	if got := Enqueue.String(); got != "enqueue" {
		t.Errorf("Enqueue.String() = %q, want enqueue", got)
	}
}

func TestCompiler_Compile(t *testing.T) {
	errType := func(et ErrorType) *ErrorType { return &et }
	tests := []struct {
		name       string
		kind       Kind
		expression string
		// wantErr is the type of the *Error expected; nil: the rule compiles.
		wantErr    *ErrorType
		wantDetail string
	}{
		// wakeWhen rules that compile.
		{name: "event type", kind: WakeWhen, expression: "eventType == 'ADDED'"},
		{name: "create has no old object", kind: WakeWhen, expression: "oldObject == null"},
		{name: "changed data", kind: WakeWhen, expression: "oldObject == null || object.data != oldObject.data"},
		{name: "dynamic result", kind: WakeWhen, expression: "object.spec.paused"},
		{name: "regex", kind: WakeWhen, expression: "object.metadata.name.matches('^a')"},
		{name: "has macro", kind: WakeWhen, expression: "has(object.metadata.labels) && 'app' in object.metadata.labels"},
		{name: "list comprehension", kind: WakeWhen, expression: "object.metadata.ownerReferences.exists(r, r.kind == 'Deployment')"},
		{name: "quantity library", kind: WakeWhen, expression: "quantity('1Gi').isGreaterThan(quantity('1Mi'))"},
		{name: "url library", kind: WakeWhen, expression: "url('https://x').getHost() == 'x'"},
		{name: "ip library", kind: WakeWhen, expression: "ip('10.0.0.1').family() == 4"},
		{name: "strings library", kind: WakeWhen, expression: "object.metadata.name.lowerAscii().startsWith('web')"},

		// enqueue rules that compile.
		{name: "own key", kind: Enqueue, expression: "object.metadata.namespace + '/' + object.metadata.name"},
		{name: "list of strings", kind: Enqueue, expression: "[object.metadata.namespace + '/' + object.metadata.name, 'default/all']"},
		{name: "string literal", kind: Enqueue, expression: "'default/config'"},
		{name: "dynamic key", kind: Enqueue, expression: "object.metadata.annotations['example.com/owner']"},
		{name: "conditional list of dyn", kind: Enqueue, expression: "has(object.spec.target) ? [object.spec.target] : []"},
		{name: "first owner", kind: Enqueue, expression: "object.metadata.namespace + '/' + object.metadata.ownerReferences[0].name"},

		// Compilation errors.
		{name: "syntax error", kind: WakeWhen, expression: "object.metadata.name ==",
			wantErr: errType(ErrorCompile), wantDetail: "compilation failed: ERROR: <input>:1:24: Syntax error"},
		{name: "empty", kind: Enqueue, expression: "",
			wantErr: errType(ErrorCompile), wantDetail: "compilation failed"},
		{name: "undeclared variable", kind: WakeWhen, expression: "self.spec.replicas > 1",
			wantErr: errType(ErrorCompile), wantDetail: "undeclared reference to 'self'"},
		{name: "no matching overload", kind: WakeWhen, expression: "eventType + 1 == 2",
			wantErr: errType(ErrorCompile), wantDetail: "found no matching overload for '_+_'"},
		{name: "unknown function", kind: Enqueue, expression: "ownerKey(object)",
			wantErr: errType(ErrorCompile), wantDetail: "undeclared reference to 'ownerKey'"},
		{name: "bad regex literal", kind: WakeWhen, expression: "object.metadata.name.matches('[')",
			wantErr: errType(ErrorCompile), wantDetail: "compilation failed"},

		// Wrong result types.
		{name: "wakeWhen returning int", kind: WakeWhen, expression: "1",
			wantErr: errType(ErrorResultType), wantDetail: "must evaluate to bool, not int"},
		{name: "wakeWhen returning string", kind: WakeWhen, expression: "eventType",
			wantErr: errType(ErrorResultType), wantDetail: "must evaluate to bool, not string"},
		{name: "wakeWhen returning list", kind: WakeWhen, expression: "['a']",
			wantErr: errType(ErrorResultType), wantDetail: "must evaluate to bool, not list(string)"},
		{name: "enqueue returning bool", kind: Enqueue, expression: "true",
			wantErr: errType(ErrorResultType), wantDetail: "must evaluate to a string or a list of strings, not bool"},
		{name: "enqueue returning int", kind: Enqueue, expression: "size(object.metadata.name)",
			wantErr: errType(ErrorResultType), wantDetail: "must evaluate to a string or a list of strings, not int"},
		{name: "enqueue returning list of int", kind: Enqueue, expression: "[1, 2]",
			wantErr: errType(ErrorResultType), wantDetail: "not list(int)"},
		{name: "enqueue returning map", kind: Enqueue, expression: "{'a': 'b'}",
			wantErr: errType(ErrorResultType), wantDetail: "not map(string, string)"},

		// Estimated cost over the budget.
		{name: "nested all over object lists", kind: WakeWhen,
			expression: "object.spec.items.all(x, object.spec.items.all(y, x == y))",
			wantErr:    errType(ErrorCost), wantDetail: "estimated rule cost exceeds budget by factor of more than 1000000x"},
		{name: "nested exists over two lists", kind: WakeWhen,
			expression: "object.spec.a.all(x, object.spec.b.exists(y, y == x))",
			wantErr:    errType(ErrorCost), wantDetail: "exceeds budget by factor of"},
		{name: "map over an object list", kind: Enqueue,
			expression: "object.spec.items.map(r, r.name)",
			wantErr:    errType(ErrorCost), wantDetail: "exceeds budget by factor of 2.0x (try simplifying the rule"},
		{name: "nested over ownerReferences", kind: WakeWhen,
			expression: "object.metadata.ownerReferences.all(a, object.metadata.ownerReferences.all(b, a.uid != b.uid || a == b))",
			wantErr:    errType(ErrorCost), wantDetail: "exceeds budget by factor of"},
		{name: "metadata bounds are not a nested field's", kind: Enqueue,
			expression: "object.spec.template.metadata.ownerReferences.filter(r, r.controller).map(r, r.name)",
			wantErr:    errType(ErrorCost), wantDetail: "exceeds budget by factor of"},

		// Iterating over metadata lists, bounded by their smallest valid
		// element: the owner pattern (client-go's GetControllerOf).
		{name: "owner exists", kind: WakeWhen,
			expression: "object.metadata.ownerReferences.exists(r, r.kind == 'Foo' && r.controller)"},
		{name: "owner names", kind: Enqueue,
			expression: "object.metadata.ownerReferences.map(r, object.metadata.namespace + '/' + r.name)"},
		{name: "controller owner", kind: Enqueue,
			expression: "object.metadata.ownerReferences.filter(r, r.kind == 'Foo' && r.?controller.orValue(false)).map(r, object.metadata.namespace + '/' + r.name)"},
		{name: "optional ownerReferences", kind: Enqueue,
			expression: "object.metadata.?ownerReferences.orValue([]).filter(r, r.controller).map(r, r.name)"},
		{name: "old object's owners", kind: WakeWhen,
			expression: "oldObject != null && oldObject.metadata.ownerReferences.exists(r, r.controller)"},
		{name: "finalizer", kind: WakeWhen, expression: "object.metadata.?finalizers.orValue([]).exists(f, f == 'example.com/cleanup')"},
		{name: "label keys", kind: WakeWhen, expression: "object.metadata.labels.exists(k, k.startsWith('example.com/'))"},
		{name: "label values", kind: Enqueue,
			expression: "object.metadata.namespace + '/' + object.metadata.labels['example.com/owner']"},
		{name: "annotation keys", kind: WakeWhen, expression: "object.metadata.annotations.exists(k, k.startsWith('example.com/'))"},
	}
	c := newTestCompiler(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := c.Compile(tt.kind, tt.expression)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Compile(%v, %q) = %v, want no error", tt.kind, tt.expression, err)
				}
				if rule.Program == nil {
					t.Fatal("compiled rule has no program")
				}
				if rule.EstimatedCost > EstimatedCostLimit {
					t.Errorf("EstimatedCost = %d, over the limit %d", rule.EstimatedCost, EstimatedCostLimit)
				}
				if diff := cmp.Diff(struct {
					Kind       Kind
					Expression string
				}{tt.kind, tt.expression}, struct {
					Kind       Kind
					Expression string
				}{rule.Kind, rule.Expression}); diff != "" {
					t.Errorf("rule (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Compile(%v, %q) succeeded, want an error", tt.kind, tt.expression)
			}
			if rule != nil {
				t.Errorf("Compile returned rule %+v with error %v", rule, err)
			}
			var ruleErr *Error
			if !errors.As(err, &ruleErr) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if ruleErr.Type != *tt.wantErr {
				t.Errorf("error type = %v, want %v (%v)", ruleErr.Type, *tt.wantErr, err)
			}
			if !strings.Contains(ruleErr.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", ruleErr.Detail, tt.wantDetail)
			}
			if err.Error() != ruleErr.Detail {
				t.Errorf("Error() = %q, want the detail %q", err.Error(), ruleErr.Detail)
			}
		})
	}
}

func TestCompiler_Compile_EstimatedCost(t *testing.T) {
	c := newTestCompiler(t)
	cheap, err := c.Compile(WakeWhen, "eventType == 'ADDED'")
	if err != nil {
		t.Fatal(err)
	}
	costly, err := c.Compile(WakeWhen, "object.metadata.ownerReferences.exists(r, r.kind == 'Deployment')")
	if err != nil {
		t.Fatal(err)
	}
	if cheap.EstimatedCost >= costly.EstimatedCost {
		t.Errorf("EstimatedCost of a comparison (%d) is not below that of a list comprehension (%d)",
			cheap.EstimatedCost, costly.EstimatedCost)
	}
}

func TestCompiler_Compile_SharesRules(t *testing.T) {
	c, err := NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	const expr = "eventType != 'DELETED'"
	func() { // the rules are referenced only in here
		first, err := c.Compile(WakeWhen, expr)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Compile(WakeWhen, expr)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Error("compiling an expression in use again returned a new rule, not the one in use")
		}
		other, err := c.Compile(WakeWhen, expr+" && true")
		if err != nil {
			t.Fatal(err)
		}
		if other == first {
			t.Error("a different expression returned the same rule")
		}
		if _, err := c.Compile(Enqueue, expr); err == nil {
			t.Error("the same expression as an enqueue rule compiled: the kind is not part of the key")
		}
	}()

	// Once nothing holds them, the rules are forgotten.
	err = wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		runtime.GC()
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.rules) == 0, nil
	})
	if err != nil {
		t.Errorf("rules nothing references are still kept: %v", err)
	}
}

func TestRule_Eval(t *testing.T) {
	configMap := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      "app-config",
			"namespace": "team-a",
			"labels":    map[string]any{"app": "web"},
			"ownerReferences": []any{
				map[string]any{"kind": "Deployment", "name": "web"},
			},
		},
	}
	changed := map[string]any{
		"metadata": configMap["metadata"],
		"data":     map[string]any{"mode": "fast"},
	}
	added := map[string]any{VarObject: configMap, VarOldObject: nil, VarEventType: "ADDED"}
	modified := map[string]any{VarObject: changed, VarOldObject: configMap, VarEventType: "MODIFIED"}

	tests := []struct {
		name       string
		kind       Kind
		expression string
		activation map[string]any
		want       any
		// wantErr is a substring of the evaluation error; empty: no error.
		wantErr string
	}{
		{name: "oldObject is null on create", kind: WakeWhen, expression: "oldObject == null",
			activation: added, want: true},
		{name: "oldObject is set on update", kind: WakeWhen, expression: "oldObject == null",
			activation: modified, want: false},
		{name: "event type", kind: WakeWhen, expression: "eventType == 'MODIFIED'",
			activation: modified, want: true},
		{name: "create or changed data on create", kind: WakeWhen,
			expression: "oldObject == null || object.data != oldObject.data", activation: added, want: true},
		{name: "has on a missing field", kind: WakeWhen, expression: "has(object.data)",
			activation: added, want: false},
		{name: "label lookup", kind: WakeWhen, expression: "object.metadata.labels.app == 'web'",
			activation: added, want: true},
		{name: "own key", kind: Enqueue, expression: "object.metadata.namespace + '/' + object.metadata.name",
			activation: added, want: "team-a/app-config"},
		{name: "owner key", kind: Enqueue,
			expression: "object.metadata.namespace + '/' + object.metadata.ownerReferences[0].name",
			activation: added, want: "team-a/web"},
		{name: "missing key is a runtime error", kind: WakeWhen, expression: "object.data.x == 'y'",
			activation: added, wantErr: "no such key: data"},
		{name: "missing key in the old object", kind: WakeWhen, expression: "object.data.mode != oldObject.data.mode",
			activation: modified, wantErr: "no such key: data"},
		{name: "field of the null old object", kind: WakeWhen, expression: "oldObject.metadata.name == 'x'",
			activation: added, wantErr: "no such key"},
		{name: "index out of range", kind: Enqueue, expression: "object.metadata.ownerReferences[1].name",
			activation: added, wantErr: "index out of bounds"},
		{name: "unbound variable", kind: WakeWhen, expression: "oldObject == null",
			activation: map[string]any{VarObject: configMap, VarEventType: "ADDED"}, wantErr: "no such attribute"},
	}
	c := newTestCompiler(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := c.Compile(tt.kind, tt.expression)
			if err != nil {
				t.Fatalf("Compile(%v, %q): %v", tt.kind, tt.expression, err)
			}
			val, _, err := rule.Program.Eval(tt.activation)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Eval(%q) = %v, want an error containing %q", tt.expression, val, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Eval(%q) error = %q, want it to contain %q", tt.expression, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval(%q): %v", tt.expression, err)
			}
			if diff := cmp.Diff(tt.want, val.Value()); diff != "" {
				t.Errorf("Eval(%q) (-want +got):\n%s", tt.expression, diff)
			}
		})
	}
}

// TestRule_Eval_CostLimit checks that an evaluation is stopped once its
// actual cost reaches CostLimit even though its estimate was accepted.
func TestRule_Eval_CostLimit(t *testing.T) {
	c := newTestCompiler(t)
	rule, err := c.Compile(WakeWhen, "object.data.blob.contains('needle')")
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	// Searching a string costs a tenth of a unit per character.
	blob := strings.Repeat("x", 20*CostLimit)
	_, _, err = rule.Program.Eval(map[string]any{
		VarObject:    map[string]any{"data": map[string]any{"blob": blob}},
		VarOldObject: nil,
		VarEventType: "ADDED",
	})
	if err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
		t.Errorf("Eval over the cost limit: error = %v, want one containing %q", err, "cost limit exceeded")
	}
}

func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"",
		"true",
		"oldObject == null || object.data != oldObject.data",
		"object.metadata.namespace + '/' + object.metadata.name",
		"[object.metadata.namespace + '/' + object.metadata.name]",
		"object.metadata.ownerReferences.map(r, r.name)",
		"object.spec.items.all(x, object.spec.items.all(y, x == y))",
		"quantity('1Gi').isGreaterThan(quantity('1Mi'))",
		"url('https://x').getHost() == 'x'",
		"object.metadata.name.matches('[')",
		"((((((((((",
		"'\\u0000' + b'\\xff'",
		"{1: 2}[3]",
	} {
		f.Add(seed)
	}
	c := newTestCompiler(f)
	f.Fuzz(func(t *testing.T, expression string) {
		for _, kind := range []Kind{WakeWhen, Enqueue} {
			rule, err := c.Compile(kind, expression)
			if err != nil {
				var ruleErr *Error
				if !errors.As(err, &ruleErr) {
					t.Fatalf("Compile(%v, %q) error %v is a %T, want *Error", kind, expression, err, err)
				}
				if rule != nil {
					t.Fatalf("Compile(%v, %q) returned a rule with error %v", kind, expression, err)
				}
				continue
			}
			if rule == nil || rule.Program == nil {
				t.Fatalf("Compile(%v, %q) returned no program and no error", kind, expression)
			}
			if rule.EstimatedCost > EstimatedCostLimit {
				t.Fatalf("Compile(%v, %q) accepted estimated cost %d over the limit", kind, expression, rule.EstimatedCost)
			}
		}
	})
}

// BenchmarkRule_Eval measures a list comprehension over lists of growing
// size, so that the time per element can be compared across sizes.
func BenchmarkRule_Eval(b *testing.B) {
	c := newTestCompiler(b)
	rule, err := c.Compile(WakeWhen, "object.spec.items.all(x, x >= 0)")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 1000, 10000} {
		items := make([]any, n)
		for i := range items {
			items[i] = int64(i)
		}
		activation := map[string]any{
			VarObject:    map[string]any{"spec": map[string]any{"items": items}},
			VarOldObject: nil,
			VarEventType: "MODIFIED",
		}
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := rule.Program.Eval(activation); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRule_WakesAndKeys(t *testing.T) {
	c, err := NewCompiler(nil)
	if err != nil {
		t.Fatal(err)
	}
	cm := func(x string) map[string]any {
		return map[string]any{"metadata": map[string]any{"namespace": "ns", "name": "cm",
			"ownerReferences": []any{map[string]any{"name": "owner-a"}, map[string]any{"name": "owner-b"}}},
			"data": map[string]any{"x": x}}
	}
	tests := []struct {
		name    string
		kind    Kind
		expr    string
		ev      Event
		want    any
		wantErr bool
	}{
		{name: "changed", kind: WakeWhen, expr: "object.data.x != oldObject.data.x", ev: Event{Type: "MODIFIED", Object: cm("2"), OldObject: cm("1")}, want: true},
		{name: "unchanged", kind: WakeWhen, expr: "object.data.x != oldObject.data.x", ev: Event{Type: "MODIFIED", Object: cm("1"), OldObject: cm("1")}, want: false},
		{name: "oldObject null on create", kind: WakeWhen, expr: "oldObject == null", ev: Event{Type: "ADDED", Object: cm("1")}, want: true},
		{name: "missing field is an error", kind: WakeWhen, expr: "object.spec.x == 1", ev: Event{Type: "ADDED", Object: cm("1")}, wantErr: true},
		{name: "dyn rule returning a string is an error", kind: WakeWhen, expr: "object.data.x", ev: Event{Type: "ADDED", Object: cm("1")}, wantErr: true},
		{name: "one key", kind: Enqueue, expr: "object.metadata.namespace + '/' + object.metadata.name", ev: Event{Type: "ADDED", Object: cm("1")}, want: []string{"ns/cm"}},
		{name: "owner keys", kind: Enqueue, expr: "object.metadata.ownerReferences.map(r, object.metadata.namespace + '/' + r.name)", ev: Event{Type: "DELETED", Object: cm("1")}, want: []string{"ns/owner-a", "ns/owner-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Admission may refuse some of these on cost; evaluation is what is tested here.
			ast, iss := c.storedEnv.Compile(tt.expr)
			if iss.Err() != nil {
				t.Fatal(iss.Err())
			}
			prog, err := c.storedEnv.Program(ast)
			if err != nil {
				t.Fatal(err)
			}
			r := &Rule{Kind: tt.kind, Expression: tt.expr, Program: prog}
			var got any
			if tt.kind == WakeWhen {
				got, err = r.Wakes(t.Context(), tt.ev)
			} else {
				got, err = r.Keys(t.Context(), tt.ev)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !cmp.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkRule_Wakes is the rate of typical wake rule evaluations, with
// the cost limit and deadline the host applies on the event path.
func BenchmarkRule_Wakes(b *testing.B) {
	c := newTestCompiler(b)
	cm := func(x string) map[string]any {
		return map[string]any{"metadata": map[string]any{"namespace": "ns", "name": "cm",
			"labels": map[string]any{"app": "web"}}, "data": map[string]any{"x": x, "y": "unchanged"}}
	}
	ev := Event{Type: "MODIFIED", Object: cm("2"), OldObject: cm("1")}
	for _, expr := range []string{
		"true",
		"object.data.x != oldObject.data.x",
		"eventType == 'MODIFIED' && object.metadata.labels.app == 'web' && object.data.y == oldObject.data.y",
	} {
		rule, err := c.Compile(WakeWhen, expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rule.Wakes(b.Context(), ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
		})
	}
}
