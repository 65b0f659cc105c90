package runtime

import (
	"strings"
	"testing"
)

func TestParseKlogHeader(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		want   klogLine
		wantOK bool
	}{
		{name: "info", line: `I1206 10:27:09.123456       1 main.go:42] "reconciled" key="d/w"`,
			want: klogLine{severity: severityInfo, caller: "main.go:42", msg: []byte(`"reconciled" key="d/w"`)}, wantOK: true},
		{name: "warning", line: `W0102 03:04:05.000001 12 transport.go:7] careful`,
			want: klogLine{severity: severityWarning, caller: "transport.go:7", msg: []byte("careful")}, wantOK: true},
		{name: "error", line: `E1231 23:59:59.999999       1 controller.go:301] "Reconcile failed" err="boom"`,
			want: klogLine{severity: severityError, caller: "controller.go:301", msg: []byte(`"Reconcile failed" err="boom"`)}, wantOK: true},
		{name: "fatal, empty message", line: `F1206 10:27:09.123456       1 main.go:9]`,
			want: klogLine{severity: severityFatal, caller: "main.go:9", msg: []byte{}}, wantOK: true},
		{name: "plain line", line: "panic: runtime error"},
		{name: "letter but no date", line: "Info: starting up the controller now, really"},
		{name: "short", line: "E12"},
		{name: "no thread", line: `I1206 10:27:09.123456 main.go:42] x`},
		{name: "no caller end", line: `I1206 10:27:09.123456       1 main.go:42 x`},
		{name: "space in caller", line: `I1206 10:27:09.123456       1 main go:42] x`},
		{name: "bad time", line: `I1206 10:27:0x.123456       1 main.go:42] x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseKlogHeader([]byte(tt.line))
			if ok != tt.wantOK || got.severity != tt.want.severity || got.caller != tt.want.caller || string(got.msg) != string(tt.want.msg) {
				t.Errorf("parseKlogHeader = %+v (msg %q), %v; want %+v (msg %q), %v", got, got.msg, ok, tt.want, tt.want.msg, tt.wantOK)
			}
		})
	}
}

// TestLineLogger_Severity checks that klog lines of a guest are logged at
// their severity with the server's header only, and other lines as info.
func TestLineLogger_Severity(t *testing.T) {
	var logs capture
	l := newLineLogger(logs.logger(), newDefaultLogLimiter(), "stderr")
	out := strings.Join([]string{
		`I1206 10:27:09.123456       1 main.go:42] "reconciled" key="d/w"`,
		`W1206 10:27:09.123456       1 main.go:43] careful`,
		`E1206 10:27:09.123456       1 main.go:44] "Reconcile failed" err=<`,
		"\tfirst line",
		" >",
		`F1206 10:27:09.123456       1 main.go:45] giving up`,
		"plain",
		"\tindented but after a plain line",
	}, "\n") + "\n"
	if _, err := l.Write([]byte(out)); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		err  bool
		text []string
	}{
		{text: []string{`"msg"="\"reconciled\" key=\"d/w\""`, `"guestCaller"="main.go:42"`}},
		{text: []string{`"msg"="careful"`, `"severity"="warning"`}},
		{err: true, text: []string{`"msg"="\"Reconcile failed\" err=<"`, `"guestCaller"="main.go:44"`}},
		{err: true, text: []string{`"msg"="\tfirst line"`}},
		{err: true, text: []string{`"msg"=" >"`}},
		{err: true, text: []string{`"msg"="giving up"`, `"severity"="fatal"`}},
		{text: []string{`"msg"="plain"`}},
		{text: []string{`"msg"="\tindented but after a plain line"`}},
	}
	got := logs.all()
	if len(got) != len(want) {
		t.Fatalf("logged %d entries, want %d: %q", len(got), len(want), got)
	}
	for i, w := range want {
		isErr := strings.Contains(got[i], `"error"=`)
		if isErr != w.err {
			t.Errorf("entry %d logged as error %v, want %v: %s", i, isErr, w.err, got[i])
		}
		for _, s := range append(w.text, `"stream"="stderr"`) {
			if !strings.Contains(got[i], s) {
				t.Errorf("entry %d = %s; want it to hold %s", i, got[i], s)
			}
		}
		if strings.Contains(got[i], "1206 10:27:09") {
			t.Errorf("entry %d keeps the guest's klog header: %s", i, got[i])
		}
	}
}
