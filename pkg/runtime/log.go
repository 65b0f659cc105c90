package runtime

import (
	"bytes"
	"sync"

	"k8s.io/klog/v2"
)

// lineLogger turns a guest's stdout or stderr into one log entry per line.
type lineLogger struct {
	logger klog.Logger
	stream string

	mu  sync.Mutex
	buf []byte
}

func newLineLogger(logger klog.Logger, stream string) *lineLogger {
	return &lineLogger{logger: logger, stream: stream}
}

// maxLine bounds a line kept waiting for its newline.
const maxLine = 16 << 10

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) > maxLine {
				l.emit(l.buf)
				l.buf = l.buf[:0]
			}
			return len(p), nil
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) emit(line []byte) {
	if len(line) > 0 {
		l.logger.Info(string(line), "stream", l.stream)
	}
}
