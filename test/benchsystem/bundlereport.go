package main

import (
	"fmt"
	"slices"
	"strings"
)

// renderBundle writes the subsection of the bundle side and the native
// side of distinct executables, if any n ran either: each beside its
// counterpart, copies against copies, distinct against distinct.
func renderBundle(b *strings.Builder, results []result) {
	if !slices.ContainsFunc(results, func(r result) bool { return r.bundle.run || r.nativeDistinct.run }) {
		return
	}
	fmt.Fprintf(b, `
### One bundle of %d reconcilers, and distinct native executables

Bundle: N WasmControllers of one module, test/guests/bundle10, which registers the replicator's reconciler under
%d names (sdk.RegisterNamed); controller i selects name i mod %d (spec.module.reconciler), so that N
controllers are drawn from one module and share its compiled code, where the N distinct modules compile one each.
Native, distinct executables: N native-replicator processes, each run from an executable file of its own (the
same program with a trailer of its own after its ELF image), so that no two share text pages, as no two distinct
modules share compiled code; the native processes above run one file, whose pages PSS divides among them. Read
copies against one executable and distinct against distinct executables. Idle, busy and the latencies are
measured as above (the bundle's latency with its guests closed after each reconcile, policy Immediate).

PSS (per controller: the rise over wasm-apiserver with no controller, divided by N; per native process: the sum
divided by N):

| N | N copies, suspended | N bundle, suspended | N distinct, suspended | N native, one executable | N native, distinct executables | copies vs one executable | bundle vs one executable | distinct vs distinct executables |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
`, bundleReconcilers, bundleReconcilers, bundleReconcilers)
	for _, r := range results {
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.n,
			perController(r.copies.idle, r.wasmBase, r.n, r.copies.run), perController(r.bundle.idle, r.wasmBase, r.n, r.bundle.run),
			perController(r.distinct.idle, r.wasmBase, r.n, r.distinct.run),
			perProcess(r.native.idle, r.n, r.native.run), perProcess(r.nativeDistinct.idle, r.n, r.nativeDistinct.run),
			vs(r.copies.idle, r.copies.run, r.native.idle, r.native.run), vs(r.bundle.idle, r.bundle.run, r.native.idle, r.native.run),
			vs(r.distinct.idle, r.distinct.run, r.nativeDistinct.idle, r.nativeDistinct.run))
	}
	b.WriteString("\nBusy (PSS):\n\n")
	b.WriteString("| N | N copies | N bundle | N distinct | N native, one executable | N native, distinct executables | copies vs one executable | bundle vs one executable | distinct vs distinct executables |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.n,
			busyCell(r.copies, r.wasmBase, r.n), busyCell(r.bundle, r.wasmBase, r.n), busyCell(r.distinct, r.wasmBase, r.n),
			perProcess(r.native.busy, r.n, r.native.busyRun), perProcess(r.nativeDistinct.busy, r.n, r.nativeDistinct.busyRun),
			vs(r.copies.busy, r.copies.busyRun, r.native.busy, r.native.busyRun), vs(r.bundle.busy, r.bundle.busyRun, r.native.busy, r.native.busyRun),
			vs(r.distinct.busy, r.distinct.busyRun, r.nativeDistinct.busy, r.nativeDistinct.busyRun))
	}
	b.WriteString("\nThe native processes idle, PSS / RSS summed (PSS divides the pages of one executable among the processes\nthat map it; RSS counts them in each):\n\n")
	b.WriteString("| N | one executable | distinct executables |\n| --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(b, "| %d | %s | %s |\n", r.n, pssRSS(r.native), pssRSS(r.nativeDistinct))
	}
	b.WriteString("\nWake latency, p50 / p99, from the write of a source to the reconcile entry and to its copy's event:\n\n")
	b.WriteString("| N | entry: copies, closed | bundle, closed | native, one executable | native, distinct executables | copy: copies, closed | bundle, closed | native, one executable | native, distinct executables |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.n,
			p50p99(r.closed.entry), p50p99(r.bundleClosed.entry), p50p99(r.nativeLat.entry), p50p99(r.nativeDistinctLat.entry),
			p50p99(r.closed.copy), p50p99(r.bundleClosed.copy), p50p99(r.nativeLat.copy), p50p99(r.nativeDistinctLat.copy))
	}
}

// pssRSS is a side's idle PSS and RSS.
func pssRSS(s side) string {
	if !s.run {
		return "not run"
	}
	return mib(s.idle.PSS) + " / " + mib(s.idle.RSS)
}
