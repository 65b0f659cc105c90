package controllerruntime

import (
	"github.com/go-logr/logr"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// NewLogger returns a logr.Logger that logs through the host: Info at
// verbosity 0 as sdk.Info, at higher verbosity (logger.V(1)) as sdk.Debug,
// which the server shows at its verbosity 4 and above, and Error as
// sdk.Error. Names (WithName) prefix the message, joined by dots.
func NewLogger() logr.Logger {
	return logr.New(&sink{})
}

// sink is the logr.LogSink of NewLogger.
type sink struct {
	name   string
	values []any
}

var _ logr.LogSink = (*sink)(nil)

// Init is called once by logr.New; the sink needs nothing from it.
func (s *sink) Init(logr.RuntimeInfo) {}

// Enabled says every level is enabled: the host filters debug messages.
func (s *sink) Enabled(int) bool { return true }

// Info logs at info level for level 0 and at debug level above.
func (s *sink) Info(level int, msg string, kv ...any) {
	if level > 0 {
		sdk.Debug(s.message(msg), s.with(kv)...)
		return
	}
	sdk.Info(s.message(msg), s.with(kv)...)
}

// Error logs at error level.
func (s *sink) Error(err error, msg string, kv ...any) {
	sdk.Error(err, s.message(msg), s.with(kv)...)
}

// WithValues returns a sink adding kv to every message.
func (s *sink) WithValues(kv ...any) logr.LogSink {
	return &sink{name: s.name, values: s.with(kv)}
}

// WithName returns a sink whose messages are prefixed with name too.
func (s *sink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "." + name
	}
	return &sink{name: name, values: s.values}
}

// message prefixes msg with the sink's name.
func (s *sink) message(msg string) string {
	if s.name == "" {
		return msg
	}
	return s.name + ": " + msg
}

// with returns the sink's values followed by kv, in a new slice.
func (s *sink) with(kv []any) []any {
	all := make([]any, 0, len(s.values)+len(kv))
	return append(append(all, s.values...), kv...)
}
