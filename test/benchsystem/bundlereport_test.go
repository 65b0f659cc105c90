package main

import (
	"strings"
	"testing"
	"time"
)

// TestRenderBundle checks the bundle's subsection: each side beside its
// counterpart, distinct against distinct executables, and nothing when
// neither ran.
func TestRenderBundle(t *testing.T) {
	base := memory{80 << 20, 80 << 20}
	r := result{n: 10, wasmBase: base,
		copies:         side{run: true, idle: memory{90 << 20, 90 << 20}},
		bundle:         side{run: true, idle: memory{92 << 20, 92 << 20}, busy: memory{100 << 20, 100 << 20}, busyRun: true, busyPolicy: "Idle"},
		distinct:       side{run: true, idle: memory{110 << 20, 110 << 20}},
		native:         side{run: true, idle: memory{300 << 20, 100 << 20}, busy: memory{0, 120 << 20}, busyRun: true},
		nativeDistinct: side{run: true, idle: memory{300 << 20, 220 << 20}},
		bundleClosed:   latency{entry: []time.Duration{4 * time.Millisecond, 6 * time.Millisecond}},
	}
	var b strings.Builder
	renderBundle(&b, []result{r, {n: 1000, wasmBase: base, copies: side{run: true, idle: memory{200 << 20, 200 << 20}}}})
	got := b.String()
	for _, want := range []string{
		"### One bundle of 10 reconcilers, and distinct native executables",
		// copies and bundle against one executable, distinct against distinct executables.
		"| 10 | 90.0 MiB (1.0 MiB each) | 92.0 MiB (1.2 MiB each) | 110.0 MiB (3.0 MiB each) | 100.0 MiB (10.0 MiB each) | 220.0 MiB (22.0 MiB each) | −10% | −8% | −50% |",
		"| 1000 | 200.0 MiB (123 KiB each) | not run | not run | not run | not run | n/a | n/a | n/a |",
		"| 10 | not run | 100.0 MiB (2.0 MiB each) | not run | 120.0 MiB (12.0 MiB each) | not run | n/a | −17% | n/a |",
		"| 10 | 100.0 MiB / 300.0 MiB | 220.0 MiB / 300.0 MiB |",
		"| 10 | not run | 4.0 ms / 6.0 ms | not run |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("section lacks %q:\n%s", want, got)
		}
	}

	b.Reset()
	renderBundle(&b, []result{{n: 10, copies: side{run: true}, native: side{run: true}}})
	if b.Len() != 0 {
		t.Errorf("section with neither side run = %q, want none", b.String())
	}
}
