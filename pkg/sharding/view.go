package sharding

import (
	"slices"
	"strings"
)

// View is one consistent picture of the group, as this replica sees it at
// one moment: who is live, and what each live replica last claimed.
//
// The host runs exactly the controllers whose keys Owns reports, stopping
// the others, and then calls Membership.Released with the same View.
type View struct {
	self    string
	holder  string // this replica's incarnation
	live    bool
	members []string // sorted ids of live replicas, this one included when live
	holders []string // incarnations of members, in the same order
	claims  map[string]peerClaim
	// ownClaim is the ids of the claim this replica's Lease carries now.
	ownClaim []string
}

// peerClaim is what a live peer's Lease claims.
type peerClaim struct {
	// none is set when the peer runs nothing yet.
	none bool
	// ids are the replicas of the view the peer last released.
	ids []string
	// acks is set when that view names this replica's current incarnation.
	acks bool
}

// Self is this replica's id.
func (v *View) Self() string { return v.self }

// Live reports whether this replica is itself live: its Lease is renewed,
// it has seen its own Lease through its watch, and it is not fenced.
func (v *View) Live() bool { return v.live }

// Members returns the ids of the live replicas, sorted.
func (v *View) Members() []string { return slices.Clone(v.members) }

// Owner is the replica key is assigned to among the live members: the value
// of status.owner. It returns "" when no replica is live.
func (v *View) Owner(key string) string { return Owner(v.members, key) }

// Owns reports whether this replica may run the controller of key now. It
// is true when key is assigned to this replica, its own Lease already claims
// key, and every other live replica has released key: its claim names this
// replica's current incarnation and gives key to someone else (or it claims
// nothing at all, as a replica that has just started).
//
// # Notes
//
//   - A key assigned here may still be unowned for a moment during a
//     handoff: its new owner waits for the old one's release.
//   - Nothing is owned while the replica is not Live.
func (v *View) Owns(key string) bool {
	if !v.live || Owner(v.members, key) != v.self || Owner(v.ownClaim, key) != v.self {
		return false
	}
	for id, c := range v.claims {
		if c.none {
			continue
		}
		if !c.acks || Owner(c.ids, key) == id {
			return false
		}
	}
	return true
}

// claim is the ClaimAnnotation value that releasing this view publishes.
func (v *View) claim() string { return strings.Join(v.holders, ",") }

// fingerprint changes whenever Owns may answer differently.
func (v *View) fingerprint() string {
	var b strings.Builder
	b.WriteString(v.holder)
	if v.live {
		b.WriteString(" live")
	}
	b.WriteString(" members=" + strings.Join(v.holders, ","))
	b.WriteString(" own=" + strings.Join(v.ownClaim, ","))
	ids := make([]string, 0, len(v.claims))
	for id := range v.claims {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c := v.claims[id]
		b.WriteString(" " + id + "=")
		switch {
		case c.none:
			b.WriteString("none")
		case !c.acks:
			b.WriteString("stale")
		default:
			b.WriteString(strings.Join(c.ids, ","))
		}
	}
	return b.String()
}
