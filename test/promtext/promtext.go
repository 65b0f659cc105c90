// Package promtext reads figures out of a Prometheus /metrics page, for the
// e2e suite and the side-by-side harness.
package promtext

import (
	"bytes"
	"fmt"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sum adds up the samples of the counter, gauge or untyped metric name in
// page whose labels include every one of labels, each written as
// name="value". A histogram or summary adds its sample counts. A metric
// missing from the page sums to 0.
func Sum(page []byte, name string, labels ...string) (float64, error) {
	want := map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return 0, fmt.Errorf("label %q is not name=\"value\"", l)
		}
		want[k] = strings.Trim(v, `"`)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		return 0, fmt.Errorf("parsing metrics: %w", err)
	}
	var sum float64
	for _, m := range families[name].GetMetric() {
		if matches(m, want) {
			sum += value(m)
		}
	}
	return sum, nil
}

// SumBy adds up the samples of name in page as Sum does, grouped by the
// values of the labels by, joined with a space (a label a sample lacks is
// empty).
func SumBy(page []byte, name string, by []string) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	sums := map[string]float64{}
	for _, m := range families[name].GetMetric() {
		key := make([]string, len(by))
		for _, l := range m.GetLabel() {
			for i, b := range by {
				if l.GetName() == b {
					key[i] = l.GetValue()
				}
			}
		}
		sums[strings.Join(key, " ")] += value(m)
	}
	return sums, nil
}

func matches(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Summary != nil:
		return float64(m.GetSummary().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}
