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

func TestRenderReport_NativeNotRun(t *testing.T) {
	results := []result{
		{n: 10, wasmBase: memory{80 << 20, 80 << 20}, wasmIdle: memory{90 << 20, 90 << 20}, native: memory{300 << 20, 70 << 20}, nativeRun: true},
		{n: 1000, wasmBase: memory{80 << 20, 80 << 20}, wasmIdle: memory{200 << 20, 200 << 20}},
	}
	got := renderReport(results, []int{10, 1000})
	for _, want := range []string{"BENCH_SYSTEM_N=10,1000 make bench-system", "| 1000 |", "not run", "+29%"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
