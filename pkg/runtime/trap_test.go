package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestTrapError(t *testing.T) {
	report := "wasm error: unreachable\nwasm stack trace:\n" +
		"\t.runtime.abort()\n\t\t/usr/local/go/src/runtime/asm_wasm.s:1\n" +
		"\t.runtime.fatalpanic(i32)\n" +
		"\t.runtime.gopanic(i32) i32\n" +
		"\t.main.reconcile(i32) i32\n" +
		"\t.reconcile(i32) i32"
	tests := []struct {
		name, report, want string
		frames             int
	}{
		{name: "wasm trap", report: report, frames: 5,
			want: "guest trapped while reconciling: wasm error: unreachable (in .runtime.abort < .runtime.fatalpanic < .runtime.gopanic < ...)"},
		{name: "host panic with a Go stack", report: "boom (recovered by wazero)\nwasm stack trace:\n\t.f()\n\nGo runtime stack trace:\ngoroutine 1\n\tmain.go:1", frames: 1,
			want: "guest trapped while reconciling: boom (recovered by wazero) (in .f)"},
		{name: "no stack", report: "out of bounds memory access", want: "guest trapped while reconciling: out of bounds memory access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newTrapError(errors.New(tt.report), "reconciling")
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if len(err.Frames) != tt.frames || err.Trace() != tt.report || !errors.Is(err, ErrTrap) {
				t.Errorf("frames %q, trace %q, Is(ErrTrap) %v", err.Frames, err.Trace(), errors.Is(err, ErrTrap))
			}
			if strings.Contains(err.Error(), "\n") {
				t.Error("the message has more than one line")
			}
		})
	}
}
