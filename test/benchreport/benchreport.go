// Package benchreport reports what the project's benchmarks measure beyond
// ns/op: the percentiles of operations they time one by one.
package benchreport

import (
	"slices"
	"testing"
	"time"
)

// Percentiles reports the median and 99th percentile of durations (nearest
// rank, below), which it sorts, as prefix+"p50-ns" and prefix+"p99-ns".
func Percentiles(b *testing.B, prefix string, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	at := func(q float64) float64 {
		return float64(durations[int(q*float64(len(durations)-1))].Nanoseconds())
	}
	b.ReportMetric(at(0.50), prefix+"p50-ns")
	b.ReportMetric(at(0.99), prefix+"p99-ns")
}
