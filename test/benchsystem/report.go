package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sectionTitle heads the section of docs/benchmarks.md this program owns.
const sectionTitle = "## Side by side on a real cluster (make bench-system)"

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func kib(b int64) string {
	if b >= 1<<20 {
		return mib(b)
	}
	return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
}

// The plots renderReport makes, written beside docs/benchmarks.md.
const (
	memoryPlot  = "bench-system-memory.svg"
	latencyPlot = "bench-system-latency.svg"
)

// renderReport renders the results as the markdown section, and its plots
// by file name.
func renderReport(results []result, chain chainResult, counts []int, limits *bench) (string, map[string][]byte) {
	var ns []string
	for _, n := range counts {
		ns = append(ns, strconv.Itoa(n))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", sectionTitle)
	b.WriteString(`One run on one local cluster (kube-apiserver and etcd on loopback, started by hack/cluster-up.sh). For each N:
N copies of examples/configmap-replicator as WasmControllers in one wasm-apiserver; N distinct modules of it in
another (the same controller with a custom section of its own appended: each module is fetched, stored and
compiled on its own, as N different controllers would be); then the same N controllers as native processes
(test/benchsystem/native-replicator: the same logic with client-go shared informers and a work queue, built for
linux/amd64, no container). Controller i replicates its own source ConfigMap into one target namespace and is
woken by it and its copy only (as the example does, each also wakes once at start for the target namespace and
checks every source's copy there). Each side starts with no copies. Idle is measured once all N copies exist
and, for wasm-apiserver, every controller is Suspended (policy Immediate: the guest instance is closed after
each reconcile); busy is the largest of the samples taken once a second over the second half of a 30 s stream
of writes to the sources, round the controllers (one write a second per controller up to 50 controllers, 50 a
second shared beyond), with wasm-apiserver's default suspend policy (Idle, 30 s), except where a busy cell says
"policy Immediate": there the guests were closed after each reconcile, so that modules' compiled code stays under
--compiled-module-budget (256Mi by default) instead of every module's being in memory at once. Memory is whole-process RSS
and PSS from /proc/<pid>/smaps_rollup, plus the pages of the anonymous files (memfds) the process holds and does
not map, which no PSS shows, summed over the native processes (their PSS shares the binary's pages among them).
Files in a state directory (snapshots, templates, compiled code) are page cache the kernel reclaims, and are not
counted. wasm-apiserver runs with --standalone and the cluster's admin kubeconfig (a benchmark needs no
least privilege), keeps its own objects in the cluster's etcd (--etcd-servers), so that its process holds the
controllers and no database, and fetches the modules from an HTTPS server of the harness (spec.module.url).
Each figure is from one run: repeat it before trusting a difference of less than about 20%.
`)
	fmt.Fprintf(&b, "%d CPU cores, %s, %s.\n\n", runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	env := "BENCH_SYSTEM_N=" + strings.Join(ns, ",")
	if chain.hops != 100 {
		env += fmt.Sprintf(" BENCH_SYSTEM_CHAIN=%d", chain.hops)
	}
	for _, l := range []struct {
		name      string
		value, by int
	}{{"BENCH_SYSTEM_NATIVE_MAX", limits.nativeMax, defaultNativeMax}, {"BENCH_SYSTEM_DISTINCT_MAX", limits.distinctMax, defaultDistinctMax},
		{"BENCH_SYSTEM_BUSY_DISTINCT_MAX", limits.busyDistinctMax, defaultBusyDistinctMax},
		{"BENCH_SYSTEM_NATIVE_DISTINCT_MAX", limits.nativeDistinctMax, defaultNativeDistinctMax}} {
		if l.value != l.by {
			env += fmt.Sprintf(" %s=%d", l.name, l.value)
		}
	}
	if limits.sides != allSides() {
		env += " BENCH_SYSTEM_SIDES=" + limits.sides.String()
	}
	fmt.Fprintf(&b, "```sh\n%s make bench-system\n```\n\n", env)

	b.WriteString("### Memory\n\n")
	b.WriteString("PSS (per controller: the rise over wasm-apiserver with no controller, divided by N; per native process: the sum divided by N):\n\n")
	b.WriteString("| N | wasm-apiserver, no controller | N copies, suspended | N distinct, suspended | N native processes, idle | copies vs native | distinct vs native |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		base := "not run"
		if r.wasmBase.PSS > 0 {
			base = mib(r.wasmBase.PSS)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", r.n, base,
			perController(r.copies.idle, r.wasmBase, r.n, r.copies.run), perController(r.distinct.idle, r.wasmBase, r.n, r.distinct.run),
			perProcess(r.native.idle, r.n, r.native.run), vs(r.copies.idle, r.copies.run, r.native.idle, r.native.run),
			vs(r.distinct.idle, r.distinct.run, r.native.idle, r.native.run))
	}
	fmt.Fprintf(&b, "\nThe copies, still suspended, once their module gave up its compiled code for having no guest in memory for\n"+
		"%s (--compiled-module-idle-unload; 10 minutes by default), and the one wake after, from the write to the\n"+
		"reconcile entry, which loads the code again:\n\n", copiesIdleUnload)
	b.WriteString("| N | N copies, suspended, code unloaded | vs native | the wake after, to reconcile entry |\n| --- | --- | --- | --- |\n")
	for _, r := range results {
		unloaded := r.copiesUnloaded.PSS > 0
		wake := "n/a"
		if len(r.unloadedWake.entry) > 0 {
			wake = millis(r.unloadedWake.entry[0])
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", r.n, perController(r.copiesUnloaded, r.wasmBase, r.n, unloaded),
			vs(r.copiesUnloaded, unloaded, r.native.idle, r.native.run), wake)
	}
	b.WriteString("\nBusy (PSS), and the copies with every guest instance kept in memory (policy Never, after a write to each source):\n\n")
	b.WriteString("| N | N copies, busy | N distinct, busy | N native, busy | copies vs native | distinct vs native | N copies, all active | the same, compacted |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.n,
			busyCell(r.copies, r.wasmBase, r.n), busyCell(r.distinct, r.wasmBase, r.n),
			perProcess(r.native.busy, r.n, r.native.busyRun), vs(r.copies.busy, r.copies.busyRun, r.native.busy, r.native.busyRun),
			vs(r.distinct.busy, r.distinct.busyRun, r.native.busy, r.native.busyRun), perController(r.wasmActive, r.wasmBase, r.n, r.wasmActive.PSS > 0),
			perController(r.wasmActiveCompacted, r.wasmBase, r.n, r.wasmActiveCompacted.PSS > 0))
	}
	b.WriteString("\nOf wasm-apiserver's RSS when suspended, its Go heap in use (go_memstats_heap_inuse_bytes); the rest is the binary,\n" +
		"the Go runtime's free pages not yet returned, stacks, and wazero's compiled code outside the heap:\n\n")
	b.WriteString("| N | copies: RSS / Go heap in use | distinct: RSS / Go heap in use |\n| --- | --- | --- |\n")
	for _, r := range results {
		cell := func(s side) string {
			if !s.run {
				return "not run"
			}
			return mib(s.idle.RSS) + " / " + mib(s.heap)
		}
		fmt.Fprintf(&b, "| %d | %s | %s |\n", r.n, cell(r.copies), cell(r.distinct))
	}
	fmt.Fprintf(&b, "\n![PSS against N](%s)\n", memoryPlot)
	renderBundle(&b, results)
	renderReplicas(&b, results)
	b.WriteString("\n")

	fmt.Fprintf(&b, `### Wake latency

From the write of a source's data on kube-apiserver (a merge patch) to the controller's reconcile entry, as
wasm-apiserver (instances.go, -v=4 for that file) and the native controllers log it as they call the reconcile;
and to the watch event of the copy carrying that data, which adds the reconcile and its write. %d writes per row,
one at a time, round the N copies, 300 ms apart; p99 of %d samples is their largest (nearest rank). Closed:
the guest instance is closed after each reconcile (policy Immediate) and instantiated anew on wake; snapshot:
restored from its snapshot (Immediate with snapshot: true); warm: policy Never.

| N | to reconcile entry, p50 / p99: closed | snapshot | warm | native | to the copy, p50 / p99: closed | snapshot | warm | native |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
`, latencySamples, latencySamples)
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.n,
			p50p99(r.closed.entry), p50p99(r.snapshot.entry), p50p99(r.warm.entry), p50p99(r.nativeLat.entry),
			p50p99(r.closed.copy), p50p99(r.snapshot.copy), p50p99(r.warm.copy), p50p99(r.nativeLat.copy))
	}
	b.WriteString(`
Where the time to the reconcile entry goes, sample by sample: the write's own round trip to kube-apiserver
(commit); the source's event reaching a watch the harness holds on the sources (seen, from the write; read once the
write has returned), which stands for the controller's own watch, as kube-apiserver's watch cache serves both; and
the controller's part, from seen to the entry (wake rules, queue, instance start for wasm-apiserver; informer,
handler and work queue for the native controllers). The p99s of the parts need not add up to the whole's, and a
part is negative where the controller's entry came before the harness read its own event.

| N | side | commit p50 / p99 | seen p50 / p99 | controller's part p50 / p99 |
| --- | --- | --- | --- | --- |
`)
	for _, r := range results {
		for _, row := range []struct {
			name string
			l    latency
		}{{"wasm-apiserver, closed", r.closed}, {"wasm-apiserver, snapshot", r.snapshot},
			{"wasm-apiserver, warm", r.warm}, {"native processes", r.nativeLat}} {
			if len(row.l.seen) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", r.n, row.name,
				p50p99(row.l.commit), p50p99(row.l.seen), p50p99(row.l.controllerPart()))
		}
	}
	plots := map[string][]byte{memoryPlot: memoryChart(results)}
	if r, ok := largestWithNative(results); ok {
		fmt.Fprintf(&b, "\n![Write to reconcile entry at N = %d](%s)\n", r.n, latencyPlot)
		plots[latencyPlot] = latencyChart(fmt.Sprintf("Write to reconcile entry, N = %d", r.n), true, []distribution{
			{"wasm-apiserver, closed", r.closed.entry}, {"wasm-apiserver, snapshot", r.snapshot.entry},
			{"wasm-apiserver, warm", r.warm.entry}, {"native processes", r.nativeLat.entry}})
	}

	if chain.hops > 0 {
		fmt.Fprintf(&b, `
### The chain

%d controllers (test/guests/relay; test/benchsystem/native-relay), controller i woken by ConfigMap hop-i and
writing its data to hop-(i+1) with one server-side apply; from the write of a new token into hop-0 to the watch
event of hop-%d carrying it. %d runs each, one after the other; every wasm-apiserver run starts with every
guest in the state named.

| controllers run as | median | fastest | slowest | per hop (median) |
| --- | --- | --- | --- | --- |
`, chain.hops, chain.hops, chainRuns)
		for _, row := range []struct {
			name string
			ds   []time.Duration
		}{{"wasm-apiserver, closed after every reconcile", chain.closed}, {"wasm-apiserver, snapshot after every reconcile", chain.snapshot},
			{"wasm-apiserver, always warm", chain.warm}, {"native processes", chain.native}} {
			if len(row.ds) == 0 {
				continue
			}
			med := quantile(row.ds, 0.5)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.name, seconds(med), seconds(slices.Min(row.ds)),
				seconds(slices.Max(row.ds)), millis(med/time.Duration(chain.hops)))
		}
	}

	b.WriteString(`
### Load on kube-apiserver

Watches: the rise of apiserver_longrunning_requests{verb="WATCH"} while a side runs (wasm-apiserver opens some
of its own with no controller). Requests: the rise of apiserver_request_total less the harness's own requests
(counted by its client) and kube-apiserver's background rate measured before the run; from the start of the
side until every copy is made and it is idle, then per minute over 20 s once idle, then per write of the busy
stream.

| N | watches: no controller / copies / distinct / native | requests at start: copies / distinct / native | idle, per minute | per busy write |
| --- | --- | --- | --- | --- |
`)
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %.0f / %s / %s / %s | %s / %s / %s | %s / %s / %s | %s / %s / %s |\n", r.n, r.wasmBaseWatches,
			count(r.copies.watches, r.copies.run), count(r.distinct.watches, r.distinct.run), count(r.native.watches, r.native.run),
			count(r.copies.reqStart, r.copies.run), count(r.distinct.reqStart, r.distinct.run), count(r.native.reqStart, r.native.run),
			count(r.copies.reqIdlePerMin, r.copies.run), count(r.distinct.reqIdlePerMin, r.distinct.run), count(r.native.reqIdlePerMin, r.native.run),
			ratio(r.copies.reqPerBusyWrite, r.copies.busyRun), ratio(r.distinct.reqPerBusyWrite, r.distinct.busyRun), ratio(r.native.reqPerBusyWrite, r.native.busyRun))
	}
	b.WriteString("\nWhat kube-apiserver served in the idle window, by verb and resource (the harness's two reads of /metrics\nand kube-apiserver's own background included):\n\n")
	for _, r := range results {
		for _, s := range []struct {
			name string
			side side
		}{{"copies", r.copies}, {"distinct", r.distinct}, {"native", r.native}} {
			if s.side.run {
				fmt.Fprintf(&b, "- N = %d, %s: %s\n", r.n, s.name, s.side.idleRequests)
			}
		}
	}
	return b.String(), plots
}

// memoryChart plots PSS against N for each side.
func memoryChart(results []result) []byte {
	lines := []series{{name: "wasm-apiserver, copies, suspended"}, {name: "wasm-apiserver, distinct, suspended"},
		{name: "wasm-apiserver, copies, busy"}, {name: "wasm-apiserver, distinct, busy"},
		{name: "native processes, idle", dashed: true}, {name: "native processes, busy", dashed: true}}
	// Busy with policy Immediate is another configuration: a line of its
	// own, drawn only if some N ran it, not a point of the default's.
	immediate := series{name: "wasm-apiserver, distinct, busy, policy Immediate"}
	add := func(l *series, n int, m memory, ok bool) {
		if ok && m.PSS > 0 {
			l.points = append(l.points, point{float64(n), float64(m.PSS) / (1 << 20)})
		}
	}
	for _, r := range results {
		add(&lines[0], r.n, r.copies.idle, r.copies.run)
		add(&lines[1], r.n, r.distinct.idle, r.distinct.run)
		add(&lines[2], r.n, r.copies.busy, r.copies.busyRun)
		distinctBusy := &lines[3]
		if r.distinct.busyPolicy == "Immediate" {
			distinctBusy = &immediate
		}
		add(distinctBusy, r.n, r.distinct.busy, r.distinct.busyRun)
		add(&lines[4], r.n, r.native.idle, r.native.run)
		add(&lines[5], r.n, r.native.busy, r.native.busyRun)
	}
	if len(immediate.points) > 0 {
		lines = append(lines, immediate)
	}
	// The sides most runs leave out: a line each, drawn only if some N ran it.
	bundle := series{name: "wasm-apiserver, bundle, suspended"}
	nativeDistinct := series{name: "native processes, distinct executables, idle", dashed: true}
	replicas := series{name: "wasm-apiserver, " + strconv.Itoa(replicaCount) + " replicas, suspended (sum)"}
	for _, r := range results {
		add(&bundle, r.n, r.bundle.idle, r.bundle.run)
		add(&nativeDistinct, r.n, r.nativeDistinct.idle, r.nativeDistinct.run)
		add(&replicas, r.n, r.replicas.idle, r.replicas.run)
	}
	for _, l := range []series{bundle, nativeDistinct, replicas} {
		if len(l.points) > 0 {
			lines = append(lines, l)
		}
	}
	return lineChart("Memory of N controllers (PSS)", "N controllers", "PSS (MiB)", true, true, lines)
}

func largestWithNative(results []result) (result, bool) {
	for i := len(results) - 1; i >= 0; i-- {
		if results[i].native.run && len(results[i].nativeLat.entry) > 0 {
			return results[i], true
		}
	}
	return result{}, false
}

// perController is m with the rise over base per controller.
func perController(m, base memory, n int, ok bool) string {
	if !ok {
		return "not run"
	}
	return fmt.Sprintf("%s (%s each)", mib(m.PSS), kib((m.PSS-base.PSS)/int64(n)))
}

// busyCell is perController of a wasm-apiserver side's busy memory, with
// the suspend policy if it was not the default.
func busyCell(s side, base memory, n int) string {
	cell := perController(s.busy, base, n, s.busyRun)
	if s.busyRun && s.busyPolicy != "" && s.busyPolicy != "Idle" {
		cell += ", policy " + s.busyPolicy
	}
	return cell
}

func perProcess(m memory, n int, ok bool) string {
	if !ok {
		return "not run"
	}
	return fmt.Sprintf("%s (%s each)", mib(m.PSS), mib(m.PSS/int64(n)))
}

func vs(a memory, aok bool, b memory, bok bool) string {
	if !aok || !bok {
		return "n/a"
	}
	return percent(a.PSS, b.PSS)
}

func count(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func p50p99(ds []time.Duration) string {
	if len(ds) == 0 {
		return "not run"
	}
	return millis(quantile(ds, 0.5)) + " / " + millis(quantile(ds, 0.99))
}

// percent is a relative to b, as "−x%" (smaller) or "+x%" (larger).
func percent(a, b int64) string {
	if b == 0 {
		return "n/a"
	}
	d := 100 * (float64(a)/float64(b) - 1)
	if d < 0 {
		return fmt.Sprintf("−%.0f%%", -d)
	}
	return fmt.Sprintf("+%.0f%%", d)
}

// writeSection replaces the section this program owns at the end of the
// file, or appends it.
func writeSection(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(old)
	if i := strings.Index(text, "\n"+sectionTitle+"\n"); i >= 0 {
		rest := text[i+1+len(sectionTitle):]
		end := ""
		if j := strings.Index(rest, "\n## "); j >= 0 {
			end = rest[j:]
		}
		text = text[:i+1] + section + end
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
