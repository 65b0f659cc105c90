// Package sharding spreads WasmControllers over the replicas of
// wasm-apiserver so that each runs on exactly one of them.
//
// Every replica holds its own coordination.k8s.io Lease in the target
// cluster, labelled with its group, and watches the others'. Each key
// (namespace/name of a WasmController) is assigned by rendezvous hashing
// over the live replicas, so a replica joining or leaving moves only its
// share of the keys.
//
// A replica is live to another while that one sees its Lease change: it
// expires once the observer's watch has shown one of the observer's own
// writes sent a lease duration after the last change, on the observer's
// clock, so neither clock offsets nor a lagging watch can expire it early.
// A replica that cannot renew its Lease for the renew deadline fences
// itself (Options.OnFenced stops every controller) before the others may
// take over; one that stops deletes its Lease, so they take over at once.
//
// Handoff between live replicas waits for the old owner: each Lease carries
// a claim, the members of the last View its host released, and a replica
// runs a key only when every other live replica's claim names its current
// incarnation and gives the key to someone else. The host's part is:
//
//	for range m.Changes() {
//		v := m.View()
//		// stop every controller with !v.Owns(key), start those with v.Owns(key)
//		m.Released(v)
//	}
//
// docs/RATIONALE.md explains the scheme, the bound on overlap and the
// failure modes.
package sharding
