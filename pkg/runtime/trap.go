package runtime

import (
	"strings"
)

// trapFrames is how many frames of the guest's stack a TrapError's message
// names.
const trapFrames = 3

// TrapError is a guest that trapped: a WebAssembly runtime error, or a Go
// panic the guest did not recover. errors.Is(err, ErrTrap) holds. Its
// message is one line, naming the innermost frames; Trace has the whole
// stack trace.
type TrapError struct {
	// During says what the guest was doing: "initializing", "reconciling".
	During string
	// Message is the runtime's description of the trap, such as
	// "wasm error: unreachable".
	Message string
	// Frames are the functions on the guest's stack, innermost first.
	Frames []string
	// trace is the runtime's full report.
	trace string
}

// newTrapError parses the report of a trap wazero returns: a message, then
// "wasm stack trace:" and a frame on each line (a function's signature,
// with its source locations on further indented lines).
func newTrapError(err error, during string) *TrapError {
	trace := err.Error()
	first, rest, _ := strings.Cut(trace, "\n")
	e := &TrapError{During: during, Message: first, trace: trace}
	_, frames, found := strings.Cut(rest, "wasm stack trace:\n")
	if !found {
		return e
	}
	for _, line := range strings.Split(frames, "\n") {
		if line == "" {
			break // the Go stack of a host panic follows
		}
		if strings.HasPrefix(line, "\t\t") || !strings.HasPrefix(line, "\t") {
			continue // a source location, or the note on omitted frames
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "\t"), "(")
		e.Frames = append(e.Frames, name)
	}
	return e
}

func (e *TrapError) Error() string {
	return ErrTrap.Error() + " while " + e.During + ": " + e.summary()
}

// summary is the message and the innermost frames, on one line.
func (e *TrapError) summary() string {
	if len(e.Frames) == 0 {
		return e.Message
	}
	frames := strings.Join(e.Frames[:min(len(e.Frames), trapFrames)], " < ")
	if len(e.Frames) > trapFrames {
		frames += " < ..."
	}
	return e.Message + " (in " + frames + ")"
}

// Is makes errors.Is(err, ErrTrap) hold.
func (e *TrapError) Is(target error) bool { return target == ErrTrap }

// Trace returns the runtime's full report of the trap: the message, the
// guest's whole stack with source locations, and for a panic in the host's
// own code, its Go stack.
func (e *TrapError) Trace() string { return e.trace }
