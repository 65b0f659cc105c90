package runtime

import (
	"bytes"
	"sync"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// maxLine bounds a line of a guest's stdout or stderr, as abi.MaxLogBytes
// bounds a message of the log host call: the rest of a longer line is
// dropped, and the line logged with how many bytes were cut.
const maxLine = abi.MaxLogBytes

// lineLogger turns a guest's stdout or stderr into one log entry per line,
// each at most maxLine bytes, admitted by the controller's LogLimiter.
//
// A line in klog's text format (client-go guests log so) is logged at its
// own severity without its header, so that the server's log has one header
// per line and a guest's errors are errors: I and W lines are info (W with
// severity="warning", as klog logs warnings through a logr.Logger), E and F
// lines errors (F with severity="fatal"), with the guest's file:line as
// caller. Other lines are info.
type lineLogger struct {
	logger  klog.Logger
	limiter *LogLimiter
	stream  string

	mu  sync.Mutex
	buf []byte // the current line, at most maxLine bytes
	// cut counts the bytes of the current line past maxLine, dropped.
	cut int
	// last is the severity of the last line with a klog header, which the
	// indented lines of a multi-line entry after it share.
	last severity
}

func newLineLogger(logger klog.Logger, limiter *LogLimiter, stream string) *lineLogger {
	return &lineLogger{logger: logger, limiter: limiter, stream: stream}
}

// bind sets where the lines go, before the guest writes any: the
// instance's controller is known only once a spare is taken (spare.go).
func (l *lineLogger) bind(logger klog.Logger, limiter *LogLimiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logger, l.limiter = logger, limiter
}

// Write logs every complete line of p and keeps the start of an incomplete
// one. It holds on to at most maxLine bytes whatever the guest writes.
func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		line, rest, complete := bytes.Cut(p, []byte{'\n'})
		keep := min(len(line), maxLine-len(l.buf))
		l.buf = append(l.buf, line[:keep]...)
		l.cut += len(line) - keep
		p = rest
		if complete {
			l.emit()
		}
	}
	return n, nil
}

// emit logs the current line and starts the next.
func (l *lineLogger) emit() {
	if len(l.buf) > 0 && l.limiter.admit(l.logger, len(l.buf)) {
		line, ok := parseKlogHeader(l.buf)
		switch {
		case ok:
			l.last = line.severity
		case continues(l.buf):
			line = klogLine{severity: l.last, msg: l.buf}
		default:
			l.last = severityNone
			line = klogLine{msg: l.buf}
		}
		l.log(line)
	}
	l.buf, l.cut = l.buf[:0], 0
}

// log logs one line at its severity.
func (l *lineLogger) log(line klogLine) {
	kv := make([]any, 0, 8)
	kv = append(kv, "stream", l.stream)
	if line.caller != "" {
		// Not "caller", which names the server's own code in its log.
		kv = append(kv, "guestCaller", line.caller)
	}
	if line.severity == severityWarning || line.severity == severityFatal {
		kv = append(kv, "severity", line.severity.String())
	}
	if l.cut > 0 {
		kv = append(kv, "truncatedBytes", l.cut)
	}
	switch line.severity {
	case severityError, severityFatal:
		l.logger.Error(nil, string(line.msg), kv...)
	default:
		l.logger.Info(string(line.msg), kv...)
	}
}
