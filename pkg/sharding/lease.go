package sharding

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The labels and annotation of a replica's Lease.
const (
	// GroupLabel holds Options.Group: replicas list each other by it.
	GroupLabel = "sharding.controllers.wasm.io/group"
	// ReplicaLabel holds Options.Identity.
	ReplicaLabel = "sharding.controllers.wasm.io/replica"
	// ClaimAnnotation lists, comma-separated, the holders (incarnations) of
	// the view the replica last released: it runs no controller that view
	// gives to another replica. Absent or empty, the replica runs none.
	ClaimAnnotation = "sharding.controllers.wasm.io/claim"
)

// leaseName is the name of the Lease of replica id.
func leaseName(group, id string) string { return group + "-" + id }

// newHolder names a new incarnation of replica id: "<id>_<random hex>".
// spec.holderIdentity carries it; a replica takes a new one when it starts
// and after it was fenced, so a claim that names an older one is stale.
func newHolder(id string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return id + "_" + hex.EncodeToString(b[:])
}

// holderID is the replica id of a holder.
func holderID(holder string) string {
	if i := strings.LastIndexByte(holder, '_'); i >= 0 {
		return holder[:i]
	}
	return holder
}

// parseClaim splits a ClaimAnnotation value into holders.
func parseClaim(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// renewTime is the lease's renewTime, zero when unset.
func renewTime(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Time
}

// duration is the lease's leaseDurationSeconds, or fallback when unset.
func duration(l *coordinationv1.Lease, fallback time.Duration) time.Duration {
	if l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds <= 0 {
		return fallback
	}
	return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
}

// holder is the lease's holderIdentity.
func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// stamp is what the replica writes into its lease: who holds it, until when,
// and what it claims.
type stamp struct {
	holder   string
	joined   time.Time
	renewed  time.Time
	duration time.Duration
	claim    string
	// transitions counts the incarnations of the lease.
	transitions int32
}

// apply writes s into lease l, keeping everything else in it.
func (s stamp) apply(l *coordinationv1.Lease, group, id string) {
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[GroupLabel] = group
	l.Labels[ReplicaLabel] = id
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[ClaimAnnotation] = s.claim
	seconds := int32(s.duration / time.Second)
	joined, renewed := metav1.NewMicroTime(s.joined), metav1.NewMicroTime(s.renewed)
	h, transitions := s.holder, s.transitions
	l.Spec.HolderIdentity = &h
	l.Spec.LeaseDurationSeconds = &seconds
	l.Spec.AcquireTime = &joined
	l.Spec.RenewTime = &renewed
	l.Spec.LeaseTransitions = &transitions
}
