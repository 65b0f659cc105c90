package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteSection(t *testing.T) {
	section := sectionTitle + "\n\nnew\n"
	tests := []struct {
		name, before, want string
	}{
		{"appended", "# B\n\n## A\n\ntext\n", "# B\n\n## A\n\ntext\n\n" + section},
		{"replaced at the end", "# B\n\n" + sectionTitle + "\n\nold\n", "# B\n\n" + section},
		{"replaced before another section", "# B\n\n" + sectionTitle + "\n\nold\n\n## C\n", "# B\n\n" + section + "\n## C\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.md")
			if err := os.WriteFile(path, []byte(tt.before), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := writeSection(path, section); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		a, b int64
		want string
	}{
		{33, 100, "−67%"},
		{230, 100, "+130%"},
		{1, 0, "n/a"},
	}
	for _, tt := range tests {
		if got := percent(tt.a, tt.b); got != tt.want {
			t.Errorf("percent(%d, %d) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 40; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := quantile(ds, 0.5); got != 20*time.Millisecond {
		t.Errorf("p50 = %s, want 20ms", got)
	}
	if got := quantile(ds, 0.99); got != 40*time.Millisecond {
		t.Errorf("p99 = %s, want 40ms", got)
	}
}

func TestRenderReport(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	results := []result{
		{n: 10, wasmBase: memory{80 << 20, 80 << 20},
			copies:         side{run: true, idle: memory{90 << 20, 90 << 20}, watches: 3, reqStart: 40},
			distinct:       side{run: true, idle: memory{110 << 20, 110 << 20}},
			native:         side{run: true, idle: memory{300 << 20, 70 << 20}, busy: memory{0, 100 << 20}, busyRun: true, reqPerBusyWrite: 1.5},
			closed:         latency{entry: ms(4, 5, 6), commit: ms(1, 1, 2), seen: ms(2, 3, 3)},
			nativeLat:      latency{entry: ms(2, 3, 9)},
			copiesUnloaded: memory{85 << 20, 85 << 20}, unloadedWake: latency{entry: ms(48)}},
		{n: 1000, wasmBase: memory{80 << 20, 80 << 20}, copies: side{run: true, idle: memory{200 << 20, 200 << 20}}},
	}
	chain := chainResult{hops: 100, closed: ms(900, 1100, 1000), native: ms(700)}
	limits := &bench{nativeMax: defaultNativeMax, distinctMax: 100, busyDistinctMax: defaultBusyDistinctMax,
		nativeDistinctMax: defaultNativeDistinctMax, sides: allSides()}
	got, plots := renderReport(results, chain, []int{10, 1000}, limits)
	for _, want := range []string{
		"BENCH_SYSTEM_N=10,1000 BENCH_SYSTEM_DISTINCT_MAX=100 make bench-system\n",
		"| 10 | 80.0 MiB | 90.0 MiB (1.0 MiB each) | 110.0 MiB (3.0 MiB each) | 70.0 MiB (7.0 MiB each) | +29% | +57% |",
		"| 1000 | 80.0 MiB | 200.0 MiB (123 KiB each) | not run | not run | n/a | n/a |",
		"| 5.0 ms / 6.0 ms | not run | not run | 3.0 ms / 9.0 ms |",
		"| wasm-apiserver, closed after every reconcile | 1.00 s | 0.90 s | 1.10 s | 10.0 ms |",
		"| native processes | 0.70 s | 0.70 s | 0.70 s | 7.0 ms |",
		"| 10 | 0 / 3 / 0 / 0 | 40 / 0 / 0 |",
		"| 10 | wasm-apiserver, closed | 1.0 ms / 2.0 ms | 3.0 ms / 3.0 ms | 2.0 ms / 3.0 ms |",
		"| – / – / 1.50 |",
		"| 10 | 85.0 MiB (512 KiB each) | +21% | 48.0 ms |",
		"| 1000 | not run | n/a | n/a |",
		"](" + memoryPlot + ")", "](" + latencyPlot + ")",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "replicas (sharding)") {
		t.Errorf("report has the replicas' section, which did not run:\n%s", got)
	}
	if strings.Contains(got, "always warm") {
		t.Errorf("report has a chain row that did not run:\n%s", got)
	}
	if len(plots[memoryPlot]) == 0 || len(plots[latencyPlot]) == 0 {
		t.Errorf("plots = %d, want the memory and latency plots", len(plots))
	}
}

// TestRenderReportSides checks that a run of some sides says which in its
// command.
func TestRenderReportSides(t *testing.T) {
	limits := &bench{nativeMax: defaultNativeMax, distinctMax: defaultDistinctMax, busyDistinctMax: defaultBusyDistinctMax,
		nativeDistinctMax: defaultNativeDistinctMax, sides: sides{copies: true, native: true}}
	got, _ := renderReport([]result{{n: 10}}, chainResult{hops: 100}, []int{10}, limits)
	for _, want := range []string{
		"BENCH_SYSTEM_N=10 BENCH_SYSTEM_SIDES=copies,native make bench-system\n",
		"| 10 | not run | not run |", // no wasm-apiserver measured
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

// TestMemoryChartPolicies checks that busy distinct modules run with policy
// Immediate get a line of their own, not a point on the default policy's.
func TestMemoryChartPolicies(t *testing.T) {
	r := func(n int, policy string) result {
		return result{n: n, distinct: side{run: true, busyRun: true, busy: memory{PSS: 100 << 20}, busyPolicy: policy}}
	}
	const legend = "distinct, busy, policy Immediate"
	if got := string(memoryChart([]result{r(10, "Idle"), r(100, "Idle")})); strings.Contains(got, legend) {
		t.Errorf("chart with no Immediate run has the legend %q", legend)
	}
	if got := string(memoryChart([]result{r(10, "Idle"), r(1000, "Immediate")})); !strings.Contains(got, legend) {
		t.Errorf("chart lacks the legend %q:\n%s", legend, got)
	}
}

// TestParseSides: the sides a list names, written back as listed, and a
// clear error for an unknown one.
func TestParseSides(t *testing.T) {
	s, err := parseSides("replicas,native-distinct,native, copies,bundle")
	if err != nil {
		t.Fatal(err)
	}
	if want := (sides{copies: true, bundle: true, native: true, nativeDistinct: true, replicas: true}); s != want {
		t.Errorf("parseSides = %+v, want %+v", s, want)
	}
	if got := s.String(); got != "copies,bundle,native,native-distinct,replicas" {
		t.Errorf("String = %q, want copies,bundle,native,native-distinct,replicas", got)
	}
	if _, err := parseSides("copies,containers"); err == nil || !strings.Contains(err.Error(), `"containers"`) {
		t.Errorf("unknown side: err = %v, want one naming it", err)
	}
}
