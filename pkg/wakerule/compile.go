package wakerule

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"weak"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"k8s.io/apimachinery/pkg/util/version"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/library"
)

// Variable names a rule can use.
const (
	VarObject    = "object"
	VarOldObject = "oldObject"
	VarEventType = "eventType"
)

// Cost limits, in CEL cost units.
const (
	// CostLimit is the most one evaluation of a rule may cost at run time:
	// the per-expression limit Kubernetes applies to admission policies
	// (about 0.1 s of CPU). An evaluation that reaches it does not wake.
	CostLimit = celconfig.PerCallLimit

	// EstimatedCostLimit is the most a rule's estimated worst case may cost
	// when it is written, the limit CustomResourceDefinition validation rules
	// have. Estimates assume every string, list and map in an object can be as
	// large as the largest API request, so they are pessimistic by design.
	EstimatedCostLimit = celconfig.RuntimeCELCostBudget
)

// Kind says which wake rule field an expression is for.
type Kind int

const (
	// WakeWhen rules return a bool.
	WakeWhen Kind = iota
	// Enqueue rules return a "namespace/name" string or a list of them.
	Enqueue
)

func (k Kind) String() string {
	if k == Enqueue {
		return "enqueue"
	}
	return "wakeWhen"
}

// ErrorType classifies why a rule was refused.
type ErrorType int

const (
	// ErrorCompile: the expression does not parse or does not type-check.
	ErrorCompile ErrorType = iota
	// ErrorResultType: the expression compiles but returns the wrong type.
	ErrorResultType
	// ErrorCost: the estimated cost exceeds EstimatedCostLimit.
	ErrorCost
)

// Error says why a rule was refused; validation turns it into a field error.
type Error struct {
	Type   ErrorType
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// Rule is a compiled wake rule, ready to evaluate. It is immutable and safe
// for concurrent use; a Compiler hands the same Rule to every caller that
// compiles the same expression while one is in use.
type Rule struct {
	Kind       Kind
	Expression string
	// EstimatedCost is the worst-case cost estimated at compile time.
	EstimatedCost uint64
	Program       cel.Program
}

// Compiler checks wake rules as they are written and compiles them as they
// are stored. It is safe for concurrent use; build one and share it between
// admission and the host, since building the environments is expensive.
type Compiler struct {
	// newEnv checks expressions being written: it has only what every
	// server of the compatibility version understands.
	newEnv *cel.Env
	// storedEnv compiles and runs stored expressions: it has everything
	// this server understands.
	storedEnv *cel.Env

	// rules holds every compiled rule still in use, so that controllers
	// with the same rules share one program: a CEL program carries its own
	// dispatcher of every function of the environment, tens of KB each.
	mu    sync.Mutex
	rules map[ruleKey]weak.Pointer[Rule]
}

type ruleKey struct {
	kind       Kind
	expression string
}

// NewCompiler builds the CEL environments of wake rules for the given
// compatibility version (nil: the default of this Kubernetes release, the
// oldest release a server of this one may be rolled back to). Rules being
// written may use only the libraries of that version (NewExpressions);
// stored rules may use every library this server has (StoredExpressions).
func NewCompiler(compat *version.Version) (*Compiler, error) {
	if compat == nil {
		compat = environment.DefaultCompatibilityVersion()
	}
	envSet, err := environment.MustBaseEnvSet(compat).Extend(environment.VersionedOptions{
		IntroducedVersion: version.MajorMinor(1, 0),
		EnvOptions: []cel.EnvOption{
			cel.Variable(VarObject, cel.DynType),
			cel.Variable(VarOldObject, cel.DynType),
			cel.Variable(VarEventType, cel.StringType),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("building wake rule environment: %w", err)
	}
	return &Compiler{newEnv: envSet.NewExpressionsEnv(), storedEnv: envSet.StoredExpressionsEnv(),
		rules: map[ruleKey]weak.Pointer[Rule]{}}, nil
}

// Compile parses, type-checks and cost-checks one stored rule, in the
// StoredExpressions environment, and builds its program. Rules being
// written are checked with Check in the NewExpressions environment.
//
// # Errors
//
// An *Error says what is wrong with the expression: it does not compile,
// returns the wrong type for its kind, or may cost more than EstimatedCostLimit.
//
// # Notes
//
// A rule that compiled before and is still referenced is returned again,
// not compiled anew; it is forgotten once nothing references it.
func (c *Compiler) Compile(kind Kind, expression string) (*Rule, error) {
	key := ruleKey{kind, expression}
	c.mu.Lock()
	r := c.rules[key].Value()
	c.mu.Unlock()
	if r != nil {
		return r, nil
	}
	r, err := c.compile(kind, expression)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if shared := c.rules[key].Value(); shared != nil {
		return shared, nil // compiled meanwhile by another caller
	}
	wp := weak.Make(r)
	c.rules[key] = wp
	runtime.AddCleanup(r, c.forget, ruleEntry{key, wp})
	return r, nil
}

type ruleEntry struct {
	key ruleKey
	wp  weak.Pointer[Rule]
}

// forget drops the entry of a rule nothing references any more, unless a
// newer rule has taken its place.
func (c *Compiler) forget(e ruleEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rules[e.key] == e.wp {
		delete(c.rules, e.key)
	}
}

func (c *Compiler) compile(kind Kind, expression string) (*Rule, error) {
	ast, cost, err := check(c.storedEnv, kind, expression)
	if err != nil {
		return nil, err
	}
	prog, err := c.storedEnv.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(celconfig.CheckFrequency))
	if err != nil {
		return nil, &Error{Type: ErrorCompile, Detail: "program construction failed: " + err.Error()}
	}
	return &Rule{Kind: kind, Expression: expression, EstimatedCost: cost, Program: prog}, nil
}

// check parses, type-checks and cost-checks one rule in env, and returns
// its checked AST and estimated worst-case cost.
func check(env *cel.Env, kind Kind, expression string) (*cel.Ast, uint64, error) {
	ast, issues := env.Compile(expression)
	if issues != nil && issues.Err() != nil {
		return nil, 0, &Error{Type: ErrorCompile, Detail: "compilation failed: " + issues.Err().Error()}
	}
	if err := checkResultType(kind, ast.OutputType()); err != nil {
		return nil, 0, err
	}
	est, err := env.EstimateCost(ast, &library.CostEstimator{SizeEstimator: newSizeEstimator(ast.NativeRep().Expr())})
	if err != nil {
		return nil, 0, &Error{Type: ErrorCost, Detail: "cost estimation failed: " + err.Error()}
	}
	if est.Max > EstimatedCostLimit {
		factor := float64(est.Max) / float64(EstimatedCostLimit)
		return nil, 0, &Error{Type: ErrorCost, Detail: fmt.Sprintf(
			"estimated rule cost exceeds budget by factor of %s (try simplifying the rule: index a fixed number of elements instead of iterating over long lists, and do not nest iterations; to wake an object's owner, set the watch's enqueueOwner)",
			formatFactor(factor))}
	}
	return ast, est.Max, nil
}

func checkResultType(kind Kind, t *cel.Type) error {
	if t.IsExactType(types.DynType) {
		return nil
	}
	switch kind {
	case WakeWhen:
		if t.IsExactType(types.BoolType) {
			return nil
		}
		return &Error{Type: ErrorResultType, Detail: fmt.Sprintf("must evaluate to bool, not %s", t)}
	case Enqueue:
		if t.IsExactType(types.StringType) || t.IsExactType(types.NewListType(types.StringType)) ||
			t.IsExactType(types.NewListType(types.DynType)) {
			return nil
		}
		return &Error{Type: ErrorResultType, Detail: fmt.Sprintf("must evaluate to a string or a list of strings, not %s", t)}
	}
	return errors.New("unknown rule kind")
}

func formatFactor(f float64) string {
	if f > 1e6 || math.IsInf(f, 0) {
		return "more than 1000000x"
	}
	return fmt.Sprintf("%.1fx", f)
}
