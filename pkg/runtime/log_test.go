package runtime

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestLineLogger_CapsLines checks that a guest's stdout lines are logged
// one entry each, cut at maxLine bytes, however they are split into writes.
func TestLineLogger_CapsLines(t *testing.T) {
	var logs capture
	l := newLineLogger(logs.logger(), newDefaultLogLimiter(), "stdout")
	writes := [][]byte{
		[]byte("first\nsec"), []byte("ond\n"),
		bytes.Repeat([]byte("x"), 40<<20), bytes.Repeat([]byte("y"), 10), []byte("\nlast\n"),
	}
	for _, w := range writes {
		if n, err := l.Write(w); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(w))
		}
	}
	got := logs.all()
	if len(got) != 4 {
		t.Fatalf("logged %d entries, want 4", len(got))
	}
	if !strings.Contains(got[0], `"msg"="first"`) || !strings.Contains(got[1], `"msg"="second"`) || !strings.Contains(got[3], `"msg"="last"`) {
		t.Errorf("lines = %.80q", got)
	}
	long := got[2]
	if len(long) > maxLine+200 || !strings.Contains(long, `"truncatedBytes"=41926666`) {
		t.Errorf("the 40 MB line was logged as %d bytes: %.200q", len(long), long)
	}
	if cap(l.buf) > 2*maxLine {
		t.Errorf("the logger kept a buffer of %d bytes", cap(l.buf))
	}
}

// TestLogLimiter_ReportsDrops checks the rates and the periodic report of
// what was dropped.
func TestLogLimiter_ReportsDrops(t *testing.T) {
	var logs capture
	now := time.Unix(1000, 0)
	l := NewLogLimiter(1, 2, 1000, 1000)
	l.now = func() time.Time { return now }
	l.lines.last, l.bytes.last, l.lastReport = now, now, now
	var admitted int
	for range 10 {
		if l.admit(logs.logger(), 10) {
			admitted++
		}
	}
	if admitted != 2 || len(logs.all()) != 0 {
		t.Fatalf("admitted %d of a burst of 2, reports %q", admitted, logs.all())
	}
	now = now.Add(logReportEvery)
	if !l.admit(logs.logger(), 10) {
		t.Fatal("nothing admitted after the lines refilled")
	}
	if got := logs.all(); len(got) != 1 || !strings.Contains(got[0], `"lines"=8 "bytes"=80`) {
		t.Errorf("reports = %q, want one of 8 lines, 80 bytes", got)
	}
	if lines, bytes := l.Dropped(); lines != 8 || bytes != 80 {
		t.Errorf("Dropped() = %d, %d; want 8, 80", lines, bytes)
	}
	if l.admit(logs.logger(), 5000) && l.admit(logs.logger(), 5000) {
		t.Error("two lines over the byte burst were both admitted")
	}
}
