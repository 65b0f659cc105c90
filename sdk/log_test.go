package sdk

import (
	"errors"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		err  error
		kv   []any
		want string
	}{
		{name: "message only", msg: "hello", want: "hello"},
		{name: "pairs", msg: "copied", kv: []any{"namespace", "team-a", "count", 3, "ok", true}, want: `copied namespace="team-a" count=3 ok=true`},
		{name: "quoting", msg: "m", kv: []any{"v", "a \"b\"\n"}, want: `m v="a \"b\"\n"`},
		{name: "stringer and error values", msg: "m", kv: []any{"after", 2 * time.Second, "cause", errors.New("x")}, want: `m after="2s" cause="x"`},
		{name: "missing value", msg: "m", kv: []any{"a", 1, "b"}, want: `m a=1 b="(MISSING)"`},
		{name: "non-string key", msg: "m", kv: []any{7, nil}, want: `m 7=<nil>`},
		{name: "error", msg: "failed", err: errors.New("conflict"), kv: []any{"key", "a/b"}, want: `failed err="conflict" key="a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := format(tt.msg, tt.err, tt.kv); got != tt.want {
				t.Errorf("format = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLogLevels(t *testing.T) {
	type entry struct {
		level Level
		msg   string
	}
	var got []entry
	logTo = func(l Level, msg string) { got = append(got, entry{l, msg}) }
	t.Cleanup(func() { logTo = hostLog })
	Info("i", "k", "v")
	Debug("d")
	Error(nil, "e")
	Log(LevelError, "raw")
	want := []entry{{LevelInfo, `i k="v"`}, {LevelDebug, "d"}, {LevelError, "e"}, {LevelError, "raw"}}
	if len(got) != len(want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %v, want %v", i, got[i], want[i])
		}
	}
}
