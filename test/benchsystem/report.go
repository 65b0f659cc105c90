package main

import (
	"fmt"
	"os"
	"runtime"
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

// renderReport renders the results as the markdown section.
func renderReport(results []result, counts []int) string {
	var ns []string
	for _, n := range counts {
		ns = append(ns, strconv.Itoa(n))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", sectionTitle)
	b.WriteString(`One run on one local cluster (kube-apiserver and etcd on loopback, started by hack/cluster-up.sh):
N copies of examples/configmap-replicator as WasmControllers in one wasm-apiserver, then the same N controllers
as native processes (test/benchsystem/native-replicator: the same logic with client-go shared informers and a
work queue, built for linux/amd64, no container). Controller i replicates its own source ConfigMap into one
target namespace and is woken by it and its copy only (as the example does, each also wakes once at start for
the target namespace and checks every source's copy there); each side starts with no copies and is measured
once all N copies exist and, for wasm-apiserver, every controller is Suspended (policy Immediate: the guest
instance is closed after each reconcile). Memory is whole-process RSS and PSS from /proc/<pid>/smaps_rollup, 5 s after the last
copy, summed over the native processes (their PSS shares the binary's pages among them). wasm-apiserver runs
with --standalone and the cluster's admin kubeconfig (a benchmark needs no least privilege), and keeps its own
objects in the cluster's etcd (--etcd-servers), so that its process holds the controllers and no database.
Watches are the rise of kube-apiserver's apiserver_longrunning_requests{verb="WATCH"} while a side runs.
Each figure is from one run: repeat it before trusting a difference of less than about 20%, which is how much
wasm-apiserver's figures moved between runs on a machine busy with other work.
`)
	fmt.Fprintf(&b, "%d CPU cores, %s, %s.\n\n", runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "```sh\nBENCH_SYSTEM_N=%s make bench-system\n```\n\n", strings.Join(ns, ","))
	b.WriteString("The native processes run only up to BENCH_SYSTEM_NATIVE_MAX (default 100): 1,000 of them would take about\n" +
		"6 GiB of PSS, so BENCH_SYSTEM_N=10,100,1000 measures 1,000 controllers on the wasm-apiserver side alone.\n\n")
	b.WriteString("| N | wasm-apiserver, no controller (RSS / PSS) | wasm-apiserver, N suspended (RSS / PSS) | added per controller (PSS) | N native processes (RSS / PSS) | per native process (PSS) | wasm vs native (PSS) | watches wasm / native | all copies made, wasm / native |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		per := (r.wasmIdle.PSS - r.wasmBase.PSS) / int64(r.n)
		nat := [5]string{"not run", "not run", "n/a", "not run", "not run"}
		if r.nativeRun {
			nat = [5]string{mib(r.native.RSS) + " / " + mib(r.native.PSS), mib(r.native.PSS / int64(r.n)),
				percent(r.wasmIdle.PSS, r.native.PSS), fmt.Sprintf("%.0f", r.nativeWatches),
				r.nativeReady.Round(100 * time.Millisecond).String()}
		}
		fmt.Fprintf(&b, "| %d | %s / %s | %s / %s | %s | %s | %s | %s | %.0f / %s | %s / %s |\n",
			r.n, mib(r.wasmBase.RSS), mib(r.wasmBase.PSS), mib(r.wasmIdle.RSS), mib(r.wasmIdle.PSS), kib(per),
			nat[0], nat[1], nat[2], r.wasmWatches, nat[3], r.wasmReady.Round(100*time.Millisecond), nat[4])
	}
	b.WriteString("\nOf wasm-apiserver's memory with N suspended controllers, its Go heap in use (go_memstats_heap_inuse_bytes);\nthe rest is the binary, the Go runtime's unreturned free pages, stacks and wazero's compiled code outside the heap:\n\n")
	b.WriteString("| N | RSS | Go heap in use |\n| --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %s | %s |\n", r.n, mib(r.wasmIdle.RSS), mib(r.wasmHeap))
	}
	b.WriteString(`
The same wasm-apiserver afterwards, with every guest instance kept in memory (policy Never, after a write to
each source), against the same native processes:

| N | wasm-apiserver, N active guests (RSS / PSS) | N native processes (PSS) | wasm vs native (PSS) |
| --- | --- | --- | --- |
`)
	for _, r := range results {
		nat, cmp := "not run", "n/a"
		if r.nativeRun {
			nat, cmp = mib(r.native.PSS), percent(r.wasmActive.PSS, r.native.PSS)
		}
		fmt.Fprintf(&b, "| %d | %s / %s | %s | %s |\n", r.n, mib(r.wasmActive.RSS), mib(r.wasmActive.PSS), nat, cmp)
	}
	fmt.Fprintf(&b, `
Wake latency, measured from the outside: from the write of a source's data on kube-apiserver (a merge patch)
to the watch event of its copy carrying that data, so it includes the controller's wake, its reconcile and its
write of the copy. %d writes per row, one at a time, round the N controllers, 300 ms apart; p99 of %d samples is
their largest (nearest rank). Closed: the guest instance is closed after each reconcile (policy Immediate) and
instantiated anew on wake; snapshot: the guest is restored from its snapshot (Immediate with snapshot: true);
warm: policy Never.

| N | closed p50 / p99 | snapshot p50 / p99 | warm p50 / p99 | native p50 / p99 |
| --- | --- | --- | --- | --- |
`, latencySamples, latencySamples)
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", r.n, p50p99(r.latClosed), p50p99(r.latSnapshot), p50p99(r.latWarm), p50p99(r.latNative))
	}
	b.WriteString("\n")
	for _, r := range results {
		if !r.nativeRun {
			fmt.Fprintf(&b, "- N = %d: one wasm-apiserver holding %d suspended controllers takes %s of PSS; the %d native processes were not run (BENCH_SYSTEM_NATIVE_MAX).\n",
				r.n, r.n, mib(r.wasmIdle.PSS), r.n)
			continue
		}
		fmt.Fprintf(&b, "- N = %d: one wasm-apiserver holding %d suspended controllers takes %s of PSS, %s against %d native processes (%s); it opens %.0f watches on kube-apiserver (%.0f of them with no controller), the native set %.0f.\n",
			r.n, r.n, mib(r.wasmIdle.PSS), percent(r.wasmIdle.PSS, r.native.PSS), r.n, mib(r.native.PSS), r.wasmWatches, r.wasmBaseWatches, r.nativeWatches)
	}
	var measured []result
	for _, r := range results {
		if r.nativeRun {
			measured = append(measured, r)
		}
	}
	if len(measured) > 0 {
		r := measured[len(measured)-1]
		fixed := r.wasmBase.PSS
		per := float64(r.wasmIdle.PSS-r.wasmBase.PSS) / float64(r.n)
		native := float64(r.native.PSS) / float64(r.n)
		if native > per {
			fmt.Fprintf(&b, "- wasm-apiserver costs %s before its first controller and %s per suspended controller at N = %d; a native process costs %s. One wasm-apiserver uses less memory than the native set from about %.0f controllers on.\n",
				mib(fixed), kib(int64(per)), r.n, mib(int64(native)), float64(fixed)/(native-per))
		}
	}
	for _, r := range measured {
		fmt.Fprintf(&b, "- Wake to effect at N = %d, p50 / p99: guests closed after each reconcile %s, restored from snapshots %s, warm %s; native processes %s.\n",
			r.n, p50p99(r.latClosed), p50p99(r.latSnapshot), p50p99(r.latWarm), p50p99(r.latNative))
	}
	b.WriteString("- Not yet measured here (issue 9, later stages): N distinct modules, controllers kept busy by a stream of writes, wake latency to reconcile entry, the chain of 100, request counts on kube-apiserver, plots.\n")
	return b.String()
}

func p50p99(ds []time.Duration) string {
	if len(ds) == 0 {
		return "not run"
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	return ms(quantile(ds, 0.5)) + " / " + ms(quantile(ds, 0.99))
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
