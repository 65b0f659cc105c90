package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The charts are self-contained SVG documents that GitHub shows inline in
// markdown: no scripts, no external fonts, a white background, one size.
// The legend sits under the plot, in as many rows as it needs, so that it
// never hides a line.
const (
	chartWidth = 720
	plotLeft   = 72
	plotRight  = chartWidth - 24
	plotTop    = 48
	plotBottom = 316
	legendTop  = plotBottom + 68 // baseline of the first legend row
	legendRow  = 20
	charWidth  = 6.8 // rough advance of a 12px sans-serif character
)

// palette is the Okabe–Ito palette, safe for colour-blind readers, without
// its yellow, which is too light on white.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"}

func colour(i int) string { return palette[i%len(palette)] }

// point is one (x, y) of a series.
type point struct{ x, y float64 }

// series is one named line of a chart.
type series struct {
	name   string
	points []point
	dashed bool // e.g. the native side or an extrapolation
}

// distribution is one named set of latency samples.
type distribution struct {
	name    string
	samples []time.Duration
}

// lineChart is an SVG line chart of the series (markers at each point, a legend),
// with a log10 x axis when logX (ticks at the powers of ten) and a log10 y axis when logY,
// else linear axes from 0 with "nice" ticks (1, 2, 5 × 10^k steps). Axis labels xLabel, yLabel; title on top.
//
// Points that a log axis cannot show (zero or negative) and points that are
// not finite are left out; a series needs two points left for a line.
func lineChart(title, xLabel, yLabel string, logX, logY bool, lines []series) []byte {
	var xs, ys []float64
	for _, s := range lines {
		for _, p := range s.points {
			if drawable(p.x, logX) && drawable(p.y, logY) {
				xs, ys = append(xs, p.x), append(ys, p.y)
			}
		}
	}
	x := newAxis(xs, logX, plotLeft, plotRight)
	y := newAxis(ys, logY, plotBottom, plotTop)
	entries := make([]legendEntry, len(lines))
	for i, s := range lines {
		entries[i] = legendEntry{label: s.name, colour: colour(i), dashed: s.dashed, marker: true}
	}
	c := newChart(title, xLabel, yLabel, x, y, entries)
	for i, s := range lines {
		var px []point
		for _, p := range s.points {
			if drawable(p.x, logX) && drawable(p.y, logY) {
				px = append(px, point{x.pos(p.x), y.pos(p.y)})
			}
		}
		c.polyline(px, colour(i), s.dashed)
		for _, p := range px {
			c.printf(`<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", num(p.x), num(p.y), colour(i))
		}
	}
	return c.end()
}

// latencyChart is an SVG chart of the cumulative distributions of the samples (empirical CDF:
// x = latency in ms, log10 axis when logX, y = fraction of samples ≤ x from 0 to 1), one step line
// per distribution with a legend that gives its p50 and p99 (nearest rank) in ms.
//
// On a log axis, samples of zero are left out of the line but still count
// in the fraction, so the line starts above 0.
func latencyChart(title string, logX bool, dists []distribution) []byte {
	var xs []float64
	ms := make([][]float64, len(dists))
	entries := make([]legendEntry, len(dists))
	for i, d := range dists {
		for _, s := range d.samples {
			ms[i] = append(ms[i], float64(s)/float64(time.Millisecond))
		}
		slices.Sort(ms[i])
		for _, v := range ms[i] {
			if drawable(v, logX) {
				xs = append(xs, v)
			}
		}
		label := d.name + " (no samples)"
		if len(d.samples) > 0 {
			label = fmt.Sprintf("%s (p50 %s ms, p99 %s ms)", d.name,
				formatMS(quantile(d.samples, 0.5)), formatMS(quantile(d.samples, 0.99)))
		}
		entries[i] = legendEntry{label: label, colour: colour(i)}
	}
	x := newAxis(xs, logX, plotLeft, plotRight)
	y := newAxis([]float64{0, 1}, false, plotBottom, plotTop)
	c := newChart(title, "latency (ms)", "fraction of samples ≤ latency", x, y, entries)
	for i, vs := range ms {
		var px []point
		n := float64(len(vs))
		for j, v := range vs {
			if drawable(v, logX) {
				px = append(px, point{x.pos(v), y.pos(float64(j) / n)}, point{x.pos(v), y.pos(float64(j+1) / n)})
			}
		}
		c.polyline(px, colour(i), false)
	}
	return c.end()
}

// formatMS is d in milliseconds with three significant digits, and no
// exponent for the latencies a benchmark sees.
func formatMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms >= 1000 {
		return strconv.FormatFloat(ms, 'f', 0, 64)
	}
	return strconv.FormatFloat(ms, 'g', 3, 64)
}

// axis maps data values onto one axis of the plot area.
type axis struct {
	log      bool
	lo, hi   float64   // bounds of the data, as log10 of the values when log
	from, to float64   // pixels of lo and hi
	ticks    []float64 // labelled values
	minor    []float64 // values of the unlabelled gridlines
}

// drawable reports whether v has a place on an axis.
func drawable(v float64, log bool) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!log || v > 0)
}

// newAxis fits an axis from pixel from to pixel to around the values vs,
// all drawable: whole decades when log, else from 0 (or below, for
// negative values) in steps of 1, 2 or 5 × 10^k.
func newAxis(vs []float64, log bool, from, to float64) axis {
	a := axis{log: log, from: from, to: to}
	if log {
		lo, hi := 0.0, 1.0
		if len(vs) > 0 {
			lo, hi = math.Floor(log10(slices.Min(vs))), math.Ceil(log10(slices.Max(vs)))
			if hi == lo {
				hi++
			}
		}
		a.lo, a.hi = lo, hi
		for e := lo; e <= hi; e++ {
			a.ticks = append(a.ticks, math.Pow(10, e))
			for m := 2.0; m <= 9 && e < hi; m++ {
				a.minor = append(a.minor, m*math.Pow(10, e))
			}
		}
		if hi-lo == 1 { // one decade: label 2 and 5 as well
			a.ticks = slices.Insert(a.ticks, 1, a.minor[0], a.minor[3])
		}
		return a
	}
	lo, hi := 0.0, 0.0
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
	}
	if span := hi - lo; !(span >= 1e-300 && span <= 1e300) { // all 0, or beyond what ticks can step through
		lo, hi = 0, 1
	}
	step := niceStep((hi - lo) / 5)
	klo, khi := math.Floor(lo/step), math.Ceil(hi/step)
	a.lo, a.hi = klo*step, khi*step
	for k := klo; k <= khi && len(a.ticks) < 20; k++ {
		a.ticks = append(a.ticks, k*step)
	}
	return a
}

// niceStep is the smallest of 1, 2, 5 × 10^k that is at least raw.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// log10 snaps to the integer it is within rounding of, so that 1000 is in
// the decade of 1000, not that of 100.
func log10(v float64) float64 {
	l := math.Log10(v)
	if r := math.Round(l); math.Abs(l-r) < 1e-9 {
		return r
	}
	return l
}

func (a axis) pos(v float64) float64 {
	if a.log {
		v = log10(v)
	}
	return a.from + (v-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// compact is a tick label: 0.5, 2.5, 1, 100, 1k, 10k, 1M.
func compact(v float64) string {
	for _, u := range []struct {
		f float64
		s string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= u.f {
			return strconv.FormatFloat(v/u.f, 'g', 4, 64) + u.s
		}
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// num is a coordinate, bounded so that no input can put NaN, Inf or a
// number hundreds of digits long into the document.
func num(v float64) string {
	if math.IsNaN(v) {
		v = 0
	}
	return strconv.FormatFloat(max(-1e6, min(v, 1e6)), 'f', 1, 64)
}

// legendEntry is one line of the legend: a sample of the stroke and a label.
type legendEntry struct {
	label  string
	colour string
	dashed bool
	marker bool
}

// chart is an SVG document being written.
type chart struct{ b bytes.Buffer }

func (c *chart) printf(format string, args ...any) { fmt.Fprintf(&c.b, format, args...) }

// text writes a text element with the attributes attrs and the content s,
// escaped.
func (c *chart) text(attrs, s string) {
	c.printf("<text %s>", attrs)
	_ = xml.EscapeText(&c.b, []byte(s)) // writes to a bytes.Buffer, which cannot fail
	c.b.WriteString("</text>\n")
}

// newChart starts a chart: background, title, gridlines, axes with their
// labels and the legend. The lines come next, on top of the grid.
func newChart(title, xLabel, yLabel string, x, y axis, entries []legendEntry) *chart {
	// Lay the legend out first: its rows decide the height.
	type placed struct{ x, y float64 }
	at := make([]placed, len(entries))
	lx, ly := float64(plotLeft), float64(legendTop)
	for i, e := range entries {
		w := 34 + charWidth*float64(utf8.RuneCountInString(e.label))
		if lx > plotLeft && lx+w > plotRight {
			lx, ly = plotLeft, ly+legendRow
		}
		at[i] = placed{lx, ly}
		lx += w + 20
	}
	height := int(ly) + 16

	c := &chart{}
	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12" fill="#222">`+"\n",
		chartWidth, height, chartWidth, height)
	c.b.WriteString("<title>")
	_ = xml.EscapeText(&c.b, []byte(title))
	c.b.WriteString("</title>\n")
	c.printf(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	c.text(fmt.Sprintf(`x="%d" y="28" text-anchor="middle" font-size="16" font-weight="bold"`, chartWidth/2), title)

	for _, v := range x.minor {
		c.printf(`<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#f0f0f0"/>`+"\n", num(x.pos(v)), plotTop, num(x.pos(v)), plotBottom)
	}
	for _, v := range y.minor {
		c.printf(`<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#f0f0f0"/>`+"\n", plotLeft, num(y.pos(v)), plotRight, num(y.pos(v)))
	}
	for _, v := range x.ticks {
		p := num(x.pos(v))
		c.printf(`<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#ddd"/>`+"\n", p, plotTop, p, plotBottom+4)
		c.text(fmt.Sprintf(`x="%s" y="%d" text-anchor="middle" class="x-tick"`, p, plotBottom+18), compact(v))
	}
	for _, v := range y.ticks {
		p := num(y.pos(v))
		c.printf(`<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#ddd"/>`+"\n", plotLeft-4, p, plotRight, p)
		c.text(fmt.Sprintf(`x="%d" y="%s" dy="4" text-anchor="end" class="y-tick"`, plotLeft-8, p), compact(v))
	}
	c.printf(`<path d="M%d %dV%dH%d" fill="none" stroke="#555"/>`+"\n", plotLeft, plotTop, plotBottom, plotRight)
	c.text(fmt.Sprintf(`x="%d" y="%d" text-anchor="middle"`, (plotLeft+plotRight)/2, plotBottom+42), xLabel)
	c.text(fmt.Sprintf(`transform="translate(18 %d) rotate(-90)" text-anchor="middle"`, (plotTop+plotBottom)/2), yLabel)

	c.b.WriteString(`<g class="legend">` + "\n")
	for i, e := range entries {
		p := at[i]
		c.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n",
			num(p.x), num(p.y-4), num(p.x+28), num(p.y-4), e.colour, dash(e.dashed))
		if e.marker {
			c.printf(`<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", num(p.x+14), num(p.y-4), e.colour)
		}
		c.text(fmt.Sprintf(`x="%s" y="%s"`, num(p.x+34), num(p.y)), e.label)
	}
	c.b.WriteString("</g>\n")
	return c
}

func dash(dashed bool) string {
	if dashed {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

// polyline draws a line through the points, given in pixels, if there are
// two or more.
func (c *chart) polyline(px []point, colour string, dashed bool) {
	if len(px) < 2 {
		return
	}
	c.b.WriteString(`<polyline points="`)
	for i, p := range px {
		if i > 0 {
			c.b.WriteByte(' ')
		}
		c.b.WriteString(num(p.x) + "," + num(p.y))
	}
	c.printf(`" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s/>`+"\n", colour, dash(dashed))
}

func (c *chart) end() []byte {
	c.b.WriteString("</svg>\n")
	return c.b.Bytes()
}
