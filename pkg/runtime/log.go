package runtime

import (
	"bytes"
	"sync"

	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/abi"
)

// maxLine bounds a line of a guest's stdout or stderr, as abi.MaxLogBytes
// bounds a message of the log host call: the rest of a longer line is
// dropped, and the line logged with how many bytes were cut.
const maxLine = abi.MaxLogBytes

// lineLogger turns a guest's stdout or stderr into one log entry per line,
// each at most maxLine bytes, admitted by the controller's LogLimiter.
type lineLogger struct {
	logger  klog.Logger
	limiter *LogLimiter
	stream  string

	mu  sync.Mutex
	buf []byte // the current line, at most maxLine bytes
	// cut counts the bytes of the current line past maxLine, dropped.
	cut int
}

func newLineLogger(logger klog.Logger, limiter *LogLimiter, stream string) *lineLogger {
	return &lineLogger{logger: logger, limiter: limiter, stream: stream}
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
		if l.cut > 0 {
			l.logger.Info(string(l.buf), "stream", l.stream, "truncatedBytes", l.cut)
		} else {
			l.logger.Info(string(l.buf), "stream", l.stream)
		}
	}
	l.buf, l.cut = l.buf[:0], 0
}
