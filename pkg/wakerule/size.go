package wakerule

import (
	"slices"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// sizeEstimator bounds the size of values whose type is dynamic: no object
// sent to the Kubernetes API is larger than its request size limit, so no
// string, list or map in it has more elements than that allows. The lists
// and maps of object metadata, which rules iterate over most (the owner of
// an object among its ownerReferences, a finalizer, a label), get the bound
// their smallest valid element allows instead of two bytes an element, and
// their strings the length validation allows.
type sizeEstimator struct {
	// elements maps a comprehension's variable to the path of the elements
	// it ranges over (object.metadata.ownerReferences.filter(r, …).map(s,
	// …): both r and s are elements of ownerReferences), for the values
	// the checker reports no path for.
	elements map[string][]string
}

// newSizeEstimator prepares the estimator for one expression.
func newSizeEstimator(e ast.Expr) sizeEstimator {
	est := sizeEstimator{elements: map[string][]string{}}
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.ComprehensionKind {
			return
		}
		c := e.AsComprehension()
		if c.HasIterVar2() {
			return
		}
		if p := est.elementPath(c.IterRange()); p != nil {
			if prev, seen := est.elements[c.IterVar()]; seen && !slices.Equal(prev, p) {
				p = nil // one name over two ranges: unknown
			}
			est.elements[c.IterVar()] = p
		}
	}))
	return est
}

// elementPath is the path of the elements of a range: the range's own
// path, then @keys (as the checker names them), or for a filter the path
// of its range's elements.
func (est sizeEstimator) elementPath(r ast.Expr) []string {
	if r.Kind() == ast.ComprehensionKind && isFilter(r.AsComprehension()) {
		return est.elementPath(r.AsComprehension().IterRange())
	}
	if p := est.exprPath(r); p != nil {
		return append(slices.Clip(p), "@keys")
	}
	return nil
}

// isFilter says whether a comprehension is the expansion of filter(): its
// step appends the variable itself to the accumulator, or keeps it.
func isFilter(c ast.ComprehensionExpr) bool {
	step := c.LoopStep()
	if step.Kind() != ast.CallKind || step.AsCall().FunctionName() != operators.Conditional || len(step.AsCall().Args()) != 3 {
		return false
	}
	add := step.AsCall().Args()[1]
	if add.Kind() != ast.CallKind || add.AsCall().FunctionName() != operators.Add || len(add.AsCall().Args()) != 2 {
		return false
	}
	list := add.AsCall().Args()[1]
	if list.Kind() != ast.ListKind || len(list.AsList().Elements()) != 1 {
		return false
	}
	elem := list.AsList().Elements()[0]
	return elem.Kind() == ast.IdentKind && elem.AsIdent() == c.IterVar()
}

func (est sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 || (path[0] != VarObject && path[0] != VarOldObject) {
		// None, or one from an element of a range the checker has no
		// path for ([@keys]).
		path = est.exprPath(n.Expr())
	}
	return &checker.SizeEstimate{Min: 0, Max: maxElementsAt(path)}
}

func (est sizeEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// maxElements is how many elements a list or map in an object of the largest
// request size can hold: each element takes at least two bytes of JSON.
const maxElements = uint64(celconfig.MaxRequestSizeBytes / 2)

// metadataBounds are the most elements (or, for a string, characters) a
// value of object metadata can hold, by its path below object or oldObject:
// lists and maps from the JSON size of their smallest valid element,
// strings from the API's validation. Lists' elements are "@items", maps'
// keys and values "@keys" and "@values". The bounds are what admission
// estimates a rule's cost with; at run time the cost limit and deadline
// still hold, whatever an object holds.
var metadataBounds = map[string]uint64{
	"metadata.name":         253,
	"metadata.generateName": 253,
	"metadata.namespace":    63,
	"metadata.uid":          36,
	// {"apiVersion":"v1","kind":"K","name":"n","uid":"u"}, : apiVersion,
	// kind, name and uid are required and not empty.
	"metadata.ownerReferences":                   uint64(celconfig.MaxRequestSizeBytes / 52),
	"metadata.ownerReferences.@items.apiVersion": 316,
	"metadata.ownerReferences.@items.kind":       63,
	"metadata.ownerReferences.@items.name":       253,
	"metadata.ownerReferences.@items.uid":        36,
	// "a", : a finalizer is a qualified name of at least one character.
	"metadata.finalizers":        uint64(celconfig.MaxRequestSizeBytes / 4),
	"metadata.finalizers.@items": 316,
	// "a":"", : a label's key has at least one character.
	"metadata.labels":         uint64(celconfig.MaxRequestSizeBytes / 7),
	"metadata.labels.@keys":   316,
	"metadata.labels.@values": 63,
	// The keys and values of annotations total at most 256 KiB.
	"metadata.annotations":         256 << 10,
	"metadata.annotations.@keys":   316,
	"metadata.annotations.@values": 256 << 10,
}

// metadataLists are the lists of metadataBounds; the others are maps.
var metadataLists = map[string]bool{"ownerReferences": true, "finalizers": true}

// maxElementsAt is the bound for the value at a field path, such as
// [object metadata ownerReferences].
func maxElementsAt(path []string) uint64 {
	if len(path) < 3 || (path[0] != VarObject && path[0] != VarOldObject) || path[1] != "metadata" {
		return maxElements
	}
	key := "metadata." + path[2]
	for i, p := range path[3:] {
		if i == 0 {
			// The checker names a list's elements as it iterates them
			// @keys; an index (exprPath) names them @index.
			switch {
			case metadataLists[path[2]] && (p == "@keys" || p == "@index"):
				p = "@items"
			case p == "@index":
				p = "@values"
			}
		}
		key += "." + p
	}
	if b, ok := metadataBounds[key]; ok {
		return b
	}
	return maxElements
}

// exprPath is the field path an expression selects, through plain and
// optional field selections (object.metadata.?labels), indexes, orValue
// and comprehension variables: what the checker reports no path for.
func (est sizeEstimator) exprPath(e ast.Expr) []string {
	if e == nil {
		return nil
	}
	switch e.Kind() {
	case ast.IdentKind:
		if p, ok := est.elements[e.AsIdent()]; ok {
			return p
		}
		return []string{e.AsIdent()}
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil
		}
		if p := est.exprPath(sel.Operand()); p != nil {
			return append(slices.Clip(p), sel.FieldName())
		}
	case ast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch {
		case call.FunctionName() == operators.OptSelect && len(args) == 2 && args[1].Kind() == ast.LiteralKind:
			field, ok := args[1].AsLiteral().Value().(string)
			if p := est.exprPath(args[0]); ok && p != nil {
				return append(slices.Clip(p), field)
			}
		case call.FunctionName() == "orValue" && call.IsMemberFunction():
			return est.exprPath(call.Target())
		case (call.FunctionName() == operators.Index || call.FunctionName() == operators.OptIndex) && len(args) == 2:
			if p := est.exprPath(args[0]); p != nil {
				return append(slices.Clip(p), "@index")
			}
		}
	}
	return nil
}
