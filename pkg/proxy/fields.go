package proxy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// FieldsOf returns the values of the fields a selector asks about, read
// from the object by their dotted paths; a missing field is "".
func FieldsOf(u *unstructured.Unstructured, sel fields.Selector) fields.Set {
	set := fields.Set{}
	for _, r := range sel.Requirements() {
		set[r.Field] = ""
		if v, found, _ := unstructured.NestedFieldNoCopy(u.Object, strings.Split(r.Field, ".")...); found && v != nil {
			set[r.Field] = fmt.Sprint(v)
		}
	}
	return set
}

// Matches says whether an object passes a label and a field selector.
func Matches(u *unstructured.Unstructured, l labels.Selector, f fields.Selector) bool {
	return MatchesLabels(u, u.GetLabels(), l, f)
}

// MatchesLabels is Matches for an object whose labels, set, the caller has
// read already: reading them copies them, which costs more than matching
// when one object is matched against many selectors.
func MatchesLabels(u *unstructured.Unstructured, set labels.Set, l labels.Selector, f fields.Selector) bool {
	if !l.Matches(set) {
		return false
	}
	return f.Empty() || f.Matches(FieldsOf(u, f))
}
