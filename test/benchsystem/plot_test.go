package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// svgDoc is what the tests read back from a chart.
type svgDoc struct {
	root     xml.StartElement
	elements map[string]int // count by local name
	legend   []string       // texts in the legend
	xTicks   []string
	yTicks   []string
	strokes  []string // stroke colours of the polylines, in order
}

// parseSVG decodes the whole document and fails the test if it is not
// well-formed XML or holds a number that is not finite.
func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	for _, bad := range []string{"NaN", "Inf"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("chart contains %q:\n%s", bad, b)
		}
	}
	doc := svgDoc{elements: map[string]int{}}
	d := xml.NewDecoder(bytes.NewReader(b))
	var groups []string // class of each open g
	textClass, inText, text := "", false, ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if doc.root.Name.Local == "" {
				doc.root = tok.Copy()
			}
			doc.elements[tok.Name.Local]++
			switch tok.Name.Local {
			case "g":
				groups = append(groups, attr(tok, "class"))
			case "text":
				inText, textClass, text = true, attr(tok, "class"), ""
			case "polyline":
				doc.strokes = append(doc.strokes, attr(tok, "stroke"))
			}
		case xml.CharData:
			if inText {
				text += string(tok)
			}
		case xml.EndElement:
			switch tok.Name.Local {
			case "g":
				groups = groups[:len(groups)-1]
			case "text":
				inText = false
				switch {
				case len(groups) > 0 && groups[len(groups)-1] == "legend":
					doc.legend = append(doc.legend, text)
				case textClass == "x-tick":
					doc.xTicks = append(doc.xTicks, text)
				case textClass == "y-tick":
					doc.yTicks = append(doc.yTicks, text)
				}
			}
		}
	}
	if doc.root.Name.Local != "svg" {
		t.Fatalf("root element is %q, want svg", doc.root.Name.Local)
	}
	for _, name := range []string{"width", "height", "viewBox", "font-family"} {
		if attr(doc.root, name) == "" {
			t.Errorf("svg lacks attribute %s", name)
		}
	}
	return doc
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func pts(xy ...float64) []point {
	var ps []point
	for i := 0; i+1 < len(xy); i += 2 {
		ps = append(ps, point{xy[i], xy[i+1]})
	}
	return ps
}

func TestLineChart(t *testing.T) {
	var many []series
	for i := range len(palette) + 2 {
		many = append(many, series{name: "s" + string(rune('a'+i)), points: pts(1, float64(i), 2, float64(i+1))})
	}
	tests := []struct {
		name       string
		logX, logY bool
		lines      []series
		wantLines  int // polylines
		wantDots   int // markers on the plot, besides those of the legend
	}{
		{name: "no series"},
		{name: "series without points", lines: []series{{name: "empty"}}},
		{name: "single point", lines: []series{{name: "one", points: pts(10, 5)}}, wantDots: 1},
		{name: "all equal", lines: []series{{name: "flat", points: pts(1, 5, 2, 5, 3, 5)}}, wantLines: 1, wantDots: 3},
		{name: "all zero", lines: []series{{name: "zero", points: pts(0, 0, 0, 0)}}, wantLines: 1, wantDots: 2},
		{
			name:      "names that need escaping",
			lines:     []series{{name: "wasm <guest>", points: pts(10, 1, 100, 2)}, {name: `native & "co"`, points: pts(10, 3, 100, 4), dashed: true}},
			wantLines: 2, wantDots: 4,
		},
		{
			name: "log axes leave out zero and negative values", logX: true, logY: true,
			lines:     []series{{name: "log", points: pts(0, 1, -1, 2, 10, 0, 10, 10, 100, 100)}},
			wantLines: 1, wantDots: 2,
		},
		{
			name:      "values that are not finite are left out",
			lines:     []series{{name: "odd", points: pts(math.NaN(), 1, 1, math.Inf(1), 2, 3, 4, 5)}},
			wantLines: 1, wantDots: 2,
		},
		{name: "negative values on linear axes", lines: []series{{name: "neg", points: pts(-5, -2, 5, 2)}}, wantLines: 1, wantDots: 2},
		{name: "more series than colours", lines: many, wantLines: len(many), wantDots: 2 * len(many)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseSVG(t, lineChart("Memory <by> N", "controllers", "PSS (MiB)", tt.logX, tt.logY, tt.lines))
			var names []string
			for _, s := range tt.lines {
				names = append(names, s.name)
			}
			if diff := cmp.Diff(names, doc.legend); diff != "" {
				t.Errorf("legend (-want +got):\n%s", diff)
			}
			if got := doc.elements["polyline"]; got != tt.wantLines {
				t.Errorf("%d polylines, want %d", got, tt.wantLines)
			}
			if got, want := doc.elements["circle"], tt.wantDots+len(tt.lines); got != want {
				t.Errorf("%d circles, want %d", got, want)
			}
			if len(doc.xTicks) < 2 || len(doc.yTicks) < 2 {
				t.Errorf("ticks x %q y %q, want at least two each", doc.xTicks, doc.yTicks)
			}
		})
	}
}

func TestLineChart_Colours(t *testing.T) {
	lines := make([]series, len(palette)+1)
	for i := range lines {
		lines[i] = series{name: "s", points: pts(1, 1, 2, 2)}
	}
	doc := parseSVG(t, lineChart("t", "x", "y", false, false, lines))
	seen := map[string]bool{}
	for _, s := range doc.strokes[:len(palette)] {
		seen[s] = true
	}
	if len(seen) != len(palette) {
		t.Errorf("strokes %q: want %d distinct colours", doc.strokes, len(palette))
	}
	if doc.strokes[len(palette)] != doc.strokes[0] {
		t.Errorf("colour after the palette is %s, want it to cycle to %s", doc.strokes[len(palette)], doc.strokes[0])
	}
}

func TestLineChart_Ticks(t *testing.T) {
	tests := []struct {
		name         string
		logX, logY   bool
		points       []point
		wantX, wantY []string
	}{
		{"log x over 10..1000", true, false, pts(10, 1, 1000, 40), []string{"10", "100", "1k"}, []string{"0", "10", "20", "30", "40"}},
		{"log y over 12..9000", false, true, pts(0, 12, 1, 9000), []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, []string{"10", "100", "1k", "10k"}},
		{"log x within one decade", true, false, pts(1, 1, 8, 1), []string{"1", "2", "5", "10"}, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
		{"linear up to 25000", false, false, pts(0, 0, 25000, 2.5), []string{"0", "5k", "10k", "15k", "20k", "25k"}, []string{"0", "0.5", "1", "1.5", "2", "2.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseSVG(t, lineChart("t", "x", "y", tt.logX, tt.logY, []series{{name: "s", points: tt.points}}))
			if diff := cmp.Diff(tt.wantX, doc.xTicks); diff != "" {
				t.Errorf("x ticks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantY, doc.yTicks); diff != "" {
				t.Errorf("y ticks (-want +got):\n%s", diff)
			}
		})
	}
}

func ms(vs ...float64) []time.Duration {
	var ds []time.Duration
	for _, v := range vs {
		ds = append(ds, time.Duration(v*float64(time.Millisecond)))
	}
	return ds
}

func TestLatencyChart(t *testing.T) {
	var oneToForty []time.Duration
	for i := 40; i >= 1; i-- {
		oneToForty = append(oneToForty, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name       string
		logX       bool
		dists      []distribution
		wantLegend []string
		wantLines  int
	}{
		{name: "no distributions"},
		{
			name:       "known samples",
			dists:      []distribution{{name: "warm", samples: oneToForty}, {name: "snapshot", samples: ms(0.5, 2.5, 2.5, 120)}},
			wantLegend: []string{"warm (p50 20 ms, p99 40 ms)", "snapshot (p50 2.5 ms, p99 120 ms)"},
			wantLines:  2,
		},
		{
			name:       "log axis",
			logX:       true,
			dists:      []distribution{{name: "a & <b>", samples: oneToForty}},
			wantLegend: []string{"a & <b> (p50 20 ms, p99 40 ms)"},
			wantLines:  1,
		},
		{
			name:       "empty samples",
			dists:      []distribution{{name: "native"}, {name: "wasm", samples: ms(3)}},
			wantLegend: []string{"native (no samples)", "wasm (p50 3 ms, p99 3 ms)"},
			wantLines:  1,
		},
		{
			name:       "all equal",
			logX:       true,
			dists:      []distribution{{name: "same", samples: ms(7, 7, 7)}},
			wantLegend: []string{"same (p50 7 ms, p99 7 ms)"},
			wantLines:  1,
		},
		{
			name:       "zero samples on a log axis",
			logX:       true,
			dists:      []distribution{{name: "zero", samples: ms(0, 0)}, {name: "mixed", samples: ms(0, 1, 10)}},
			wantLegend: []string{"zero (p50 0 ms, p99 0 ms)", "mixed (p50 1 ms, p99 10 ms)"},
			wantLines:  1,
		},
		{
			name:       "slow samples",
			dists:      []distribution{{name: "slow", samples: ms(1500, 2500)}},
			wantLegend: []string{"slow (p50 1500 ms, p99 2500 ms)"},
			wantLines:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseSVG(t, latencyChart("Wake to effect", tt.logX, tt.dists))
			if diff := cmp.Diff(tt.wantLegend, doc.legend); diff != "" {
				t.Errorf("legend (-want +got):\n%s", diff)
			}
			if got := doc.elements["polyline"]; got != tt.wantLines {
				t.Errorf("%d polylines, want %d", got, tt.wantLines)
			}
			if diff := cmp.Diff([]string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, doc.yTicks); diff != "" {
				t.Errorf("y ticks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLatencyChart_LogTicks(t *testing.T) {
	doc := parseSVG(t, latencyChart("t", true, []distribution{{name: "a", samples: ms(10, 50, 1000)}}))
	if diff := cmp.Diff([]string{"10", "100", "1k"}, doc.xTicks); diff != "" {
		t.Errorf("x ticks (-want +got):\n%s", diff)
	}
}

func TestCompact(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {10, "10"}, {100, "100"}, {1000, "1k"}, {1500, "1.5k"}, {10000, "10k"},
		{1e6, "1M"}, {0.5, "0.5"}, {2.5, "2.5"}, {3 * 0.1, "0.3"}, {-20, "-20"},
	}
	for _, tt := range tests {
		if got := compact(tt.v); got != tt.want {
			t.Errorf("compact(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestNum_Bounded(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300} {
		if got := num(v); strings.ContainsAny(got, "NI") || len(got) > 12 {
			t.Errorf("num(%v) = %q", v, got)
		}
	}
}
