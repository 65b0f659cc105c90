package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// spreadGoal is how far from an even share a replica's count of
// controllers may be: ±10% at 1,000 controllers over three replicas.
const spreadGoal = 0.10

// spread is how far the smallest and the largest of counts lie from their
// mean, as fractions of it: low ≤ 0 ≤ high. Counts with no controller have
// no spread.
func spread(counts []int) (low, high float64) {
	total := 0
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0, 0
	}
	mean := float64(total) / float64(len(counts))
	return float64(slices.Min(counts))/mean - 1, float64(slices.Max(counts))/mean - 1
}

// spreadCell is the controllers per replica, their spread and whether it
// is within spreadGoal.
func spreadCell(counts []int) string {
	low, high := spread(counts)
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = strconv.Itoa(c)
	}
	verdict := "within"
	if -low > spreadGoal || high > spreadGoal {
		verdict = "outside"
	}
	return fmt.Sprintf("%s (%s … %s, %s ±%.0f%%)", strings.Join(parts, " / "), signedPercent(low), signedPercent(high),
		verdict, 100*spreadGoal)
}

// signedPercent is f as "−x.y%" or "+x.y%".
func signedPercent(f float64) string {
	if f < 0 {
		return fmt.Sprintf("−%.1f%%", -100*f)
	}
	return fmt.Sprintf("+%.1f%%", 100*f)
}

// renderReplicas writes the subsection of the replicas side, if any n ran
// it: each replica's figures, their sum and the one process of the copies
// side, then the spread and the cost of three processes over one.
func renderReplicas(b *strings.Builder, results []result) {
	if !slices.ContainsFunc(results, func(r result) bool { return r.replicas.run }) {
		return
	}
	fmt.Fprintf(b, `
### %d replicas (sharding)

The same N copies as above, served by %d wasm-apiserver replicas with --sharding (default lease settings) that
share one etcd: the cluster's, under a prefix of their own, as the one-process sides keep theirs, so that no
replica holds a database. The replicas share this machine's cores: each runs with --max-running-guests=%d, so
that together they run about as many guests at once as the one process (8). The controllers are created
through one replica; each runs on the replica that rendezvous hashing over the live replicas gives it. Owned:
the controllers whose status.owner names the replica; loaded: those it runs, from its own metrics
(wasm_apiserver_guests_active + _suspended); informers: those it runs for guests (wasm_apiserver_informers),
each with the objects it caches (wasm_apiserver_cached_objects). Joined: PSS and RSS once all %d hold their
Leases, before any controller (three processes of one executable share its pages, which PSS divides among them
and RSS counts in each). Suspended and busy as above (busy: each replica's largest sample; the sum's row, the
largest sum of one sample). The one-process row is the copies side of the same run.

| N | process | owned / loaded | informers: resource (scope): objects cached | PSS / RSS joined | PSS suspended | PSS busy | RSS / Go heap in use, suspended |
| --- | --- | --- | --- | --- | --- | --- | --- |
`, replicaCount, replicaCount, replicaGuests, replicaCount)
	for _, r := range results {
		s := r.replicas
		if !s.run {
			continue
		}
		var started memory
		var owned, loaded, informers int
		var heap int64
		for _, st := range s.replicas {
			fmt.Fprintf(b, "| %d | %s | %d / %d | %d: %s | %s | %s | %s | %s / %s |\n", r.n, st.id, st.owned, st.loaded,
				st.informers, strings.Join(st.scopes, ", "), mib(st.started.PSS)+" / "+mib(st.started.RSS), mib(st.idle.PSS), busyPSS(st.busy, s.busyRun),
				mib(st.idle.RSS), mib(st.heap))
			started = started.add(st.started)
			owned, loaded, informers, heap = owned+st.owned, loaded+st.loaded, informers+st.informers, heap+st.heap
		}
		fmt.Fprintf(b, "| %d | sum of %d | %d / %d | %d | %s | %s | %s | %s / %s |\n", r.n, len(s.replicas), owned, loaded,
			informers, mib(started.PSS)+" / "+mib(started.RSS), mib(s.idle.PSS), busyPSS(s.busy, s.busyRun), mib(s.idle.RSS), mib(heap))
		if c := r.copies; c.run {
			base := "not run"
			if r.wasmBase.PSS > 0 {
				base = mib(r.wasmBase.PSS) + " / " + mib(r.wasmBase.RSS) + " (no controller)"
			}
			fmt.Fprintf(b, "| %d | one process (copies) | %d | – | %s | %s | %s | %s / %s |\n", r.n, r.n, base,
				mib(c.idle.PSS), busyPSS(c.busy, c.busyRun), mib(c.idle.RSS), mib(c.heap))
		}
	}
	fmt.Fprintf(b, `
Controllers per replica (owned) and their spread from an even share (goal: within ±%.0f%% at N = 1,000); the %d
replicas against the one process; watches opened on kube-apiserver and its requests once idle (the replicas
renew their Leases).

| N | owned per replica (spread) | no owner | PSS suspended: %d replicas vs one | PSS busy: %d replicas vs one | watches: %d replicas / one | idle requests per minute: %d replicas / one |
| --- | --- | --- | --- | --- | --- | --- |
`, 100*spreadGoal, replicaCount, replicaCount, replicaCount, replicaCount, replicaCount)
	for _, r := range results {
		s := r.replicas
		if !s.run {
			continue
		}
		counts := make([]int, len(s.replicas))
		for i, st := range s.replicas {
			counts[i] = st.owned
		}
		fmt.Fprintf(b, "| %d | %s | %d | %s | %s | %s / %s | %s / %s |\n", r.n, spreadCell(counts), s.unowned,
			against(s.idle, s.run, r.copies.idle, r.copies.run), against(s.busy, s.busyRun, r.copies.busy, r.copies.busyRun),
			count(s.watches, s.run), count(r.copies.watches, r.copies.run),
			count(s.reqIdlePerMin, s.run), count(r.copies.reqIdlePerMin, r.copies.run))
	}
	b.WriteString("\nWhat kube-apiserver served while the replicas were idle, by verb and resource (as above):\n\n")
	for _, r := range results {
		if r.replicas.run {
			fmt.Fprintf(b, "- N = %d, %d replicas: %s\n", r.n, replicaCount, r.replicas.idleRequests)
		}
	}
}

// busyPSS is the PSS of a busy reading, if the busy stream ran.
func busyPSS(m memory, ok bool) string {
	if !ok {
		return "not run"
	}
	return mib(m.PSS)
}

// against is a's PSS against b's: the difference and the ratio.
func against(a memory, aok bool, b memory, bok bool) string {
	if !aok || !bok {
		return "n/a"
	}
	d := a.PSS - b.PSS
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	return fmt.Sprintf("%s vs %s (%s%s, %s)", mib(a.PSS), mib(b.PSS), sign, mib(d), percent(a.PSS, b.PSS))
}
