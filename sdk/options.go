package sdk

import (
	"slices"
	"strconv"
	"strings"
)

// ListOption configures List.
type ListOption interface {
	applyToList(q query)
}

// WriteOption configures Create, Update, UpdateStatus, Patch and PatchStatus.
type WriteOption interface {
	applyToWrite(q query)
}

// DeleteOption configures Delete.
type DeleteOption interface {
	applyToDelete(o *deleteOptions)
}

// LabelSelector restricts List to objects whose labels match the selector,
// such as "app=web,tier!=cache".
type LabelSelector string

func (s LabelSelector) applyToList(q query) { q.set("labelSelector", string(s)) }

// MatchingLabels restricts List to objects with all these labels.
type MatchingLabels map[string]string

func (m MatchingLabels) applyToList(q query) {
	terms := make([]string, 0, len(m))
	for k, v := range m {
		terms = append(terms, k+"="+v)
	}
	slices.Sort(terms)
	q.set("labelSelector", strings.Join(terms, ","))
}

// FieldSelector restricts List to objects whose fields match the selector,
// such as "metadata.name=config".
type FieldSelector string

func (s FieldSelector) applyToList(q query) { q.set("fieldSelector", string(s)) }

// Limit asks List for at most this many items; continue with
// ObjectList.Continue.
type Limit int64

func (l Limit) applyToList(q query) {
	if l > 0 {
		q.set("limit", strconv.FormatInt(int64(l), 10))
	}
}

// Continue lists the next page of a List that was given a Limit.
type Continue string

func (c Continue) applyToList(q query) { q.set("continue", string(c)) }

// FieldManager names the manager of the fields a write sets. Apply patches
// require it.
type FieldManager string

func (m FieldManager) applyToWrite(q query) { q.set("fieldManager", string(m)) }

// Force makes an apply patch take ownership of fields other managers own,
// as a controller usually should. It is valid only with ApplyPatch.
var Force WriteOption = forceOption{}

type forceOption struct{}

func (forceOption) applyToWrite(q query) { q.set("force", "true") }

// DryRun makes a write or delete go through admission and validation
// without being persisted.
var DryRun DryRunOption

// DryRunOption is the type of DryRun, both a WriteOption and a DeleteOption.
type DryRunOption struct{}

func (DryRunOption) applyToWrite(q query)           { q.set("dryRun", "All") }
func (DryRunOption) applyToDelete(o *deleteOptions) { o.DryRun = []string{"All"} }

// PropagationPolicy says how a delete treats the object's dependents.
type PropagationPolicy string

// Propagation policies.
const (
	// DeleteBackground deletes the object now and its dependents in the background.
	DeleteBackground PropagationPolicy = "Background"
	// DeleteForeground deletes the dependents before the object.
	DeleteForeground PropagationPolicy = "Foreground"
	// DeleteOrphan deletes the object and leaves its dependents.
	DeleteOrphan PropagationPolicy = "Orphan"
)

func (p PropagationPolicy) applyToDelete(o *deleteOptions) { o.PropagationPolicy = string(p) }

// Preconditions make a delete fail with a conflict unless the object still
// has this UID and resourceVersion (each checked when not empty).
type Preconditions struct {
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

func (p Preconditions) applyToDelete(o *deleteOptions) {
	pc := p
	o.Preconditions = &pc
}

// deleteOptions is the body of a delete, a Kubernetes DeleteOptions.
type deleteOptions struct {
	APIVersion        string         `json:"apiVersion"`
	Kind              string         `json:"kind"`
	PropagationPolicy string         `json:"propagationPolicy,omitempty"`
	Preconditions     *Preconditions `json:"preconditions,omitempty"`
	DryRun            []string       `json:"dryRun,omitempty"`
}
