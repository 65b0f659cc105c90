package main

import (
	"math"
	"strings"
	"testing"
)

func TestSpread(t *testing.T) {
	tests := []struct {
		name      string
		counts    []int
		low, high float64
	}{
		{"even", []int{10, 10, 10}, 0, 0},
		{"1,000 over three", []int{313, 335, 352}, 313/333.3333 - 1, 352/333.3333 - 1},
		{"one has none", []int{0, 5, 10}, -1, 1},
		{"no controller", []int{0, 0, 0}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			low, high := spread(tt.counts)
			if math.Abs(low-tt.low) > 1e-6 || math.Abs(high-tt.high) > 1e-6 {
				t.Errorf("spread(%v) = %.4f, %.4f; want %.4f, %.4f", tt.counts, low, high, tt.low, tt.high)
			}
		})
	}
}

func TestSpreadCell(t *testing.T) {
	tests := []struct {
		counts []int
		want   string
	}{
		{[]int{329, 331, 340}, "329 / 331 / 340 (−1.3% … +2.0%, within ±10%)"},
		{[]int{2, 3, 5}, "2 / 3 / 5 (−40.0% … +50.0%, outside ±10%)"},
		{[]int{30, 33, 37}, "30 / 33 / 37 (−10.0% … +11.0%, outside ±10%)"},
	}
	for _, tt := range tests {
		if got := spreadCell(tt.counts); got != tt.want {
			t.Errorf("spreadCell(%v) = %q, want %q", tt.counts, got, tt.want)
		}
	}
}

func TestScopes(t *testing.T) {
	got := scopes(map[string]float64{"namespaces ": 7, "configmaps ": 220, "secrets bench-src": 3})
	want := "configmaps (all namespaces): 220, namespaces (all namespaces): 7, secrets (bench-src): 3"
	if s := strings.Join(got, ", "); s != want {
		t.Errorf("scopes = %q, want %q", s, want)
	}
}

// TestRenderReplicas checks the replicas' rows, their sum beside the one
// process of the same run, and the spread against the goal.
func TestRenderReplicas(t *testing.T) {
	replica := func(id string, owned int, idle int64) replicaStats {
		return replicaStats{id: id, owned: owned, loaded: owned, informers: 2,
			scopes:  []string{"configmaps (all namespaces): 20", "namespaces (all namespaces): 6"},
			started: memory{40 << 20, 30 << 20}, idle: memory{50 << 20, idle << 20}, busy: memory{60 << 20, (idle + 5) << 20}, heap: 10 << 20}
	}
	results := []result{
		{n: 10, wasmBase: memory{30 << 20, 30 << 20},
			copies: side{run: true, idle: memory{40 << 20, 40 << 20}, busy: memory{45 << 20, 45 << 20}, busyRun: true, heap: 12 << 20, watches: 3, reqIdlePerMin: 1},
			replicas: replicasSide{
				side: side{run: true, idle: memory{150 << 20, 120 << 20}, busy: memory{180 << 20, 135 << 20}, busyRun: true, watches: 9, reqIdlePerMin: 93,
					idleRequests: "PUT leases 92, GET /openapi/v3 27"},
				replicas: []replicaStats{replica("replica-0", 2, 38), replica("replica-1", 3, 40), replica("replica-2", 5, 42)}}},
		{n: 100, copies: side{run: true}},
	}
	var b strings.Builder
	renderReplicas(&b, results)
	got := b.String()
	for _, want := range []string{
		"### 3 replicas (sharding)",
		"| 10 | replica-0 | 2 / 2 | 2: configmaps (all namespaces): 20, namespaces (all namespaces): 6 | 30.0 MiB / 40.0 MiB | 38.0 MiB | 43.0 MiB | 50.0 MiB / 10.0 MiB |",
		"| 10 | sum of 3 | 10 / 10 | 6 | 90.0 MiB / 120.0 MiB | 120.0 MiB | 135.0 MiB | 150.0 MiB / 30.0 MiB |",
		"| 10 | one process (copies) | 10 | – | 30.0 MiB / 30.0 MiB (no controller) | 40.0 MiB | 45.0 MiB | 40.0 MiB / 12.0 MiB |",
		"- N = 10, 3 replicas: PUT leases 92, GET /openapi/v3 27\n",
		"| 10 | 2 / 3 / 5 (−40.0% … +50.0%, outside ±10%) | 0 | 120.0 MiB vs 40.0 MiB (+80.0 MiB, +200%) | 135.0 MiB vs 45.0 MiB (+90.0 MiB, +200%) | 9 / 3 | 93 / 1 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("section lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "| 100 |") {
		t.Errorf("section has a row for N = 100, whose replicas did not run:\n%s", got)
	}
	b.Reset()
	renderReplicas(&b, results[1:])
	if b.Len() != 0 {
		t.Errorf("section written with no replicas run:\n%s", b.String())
	}
}
