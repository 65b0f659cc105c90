package runtime

import (
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// Default rates of a LogLimiter built by the runtime when an InstanceConfig
// has none.
const (
	DefaultLogLinesPerSecond = 50
	DefaultLogLineBurst      = 500
	DefaultLogBytesPerSecond = 64 << 10
	DefaultLogByteBurst      = 1 << 20
)

// logReportEvery is how often, at most, a limiter logs how much it dropped.
const logReportEvery = 10 * time.Second

// LogLimiter bounds the log output of the guests of one controller: their
// stdout and stderr lines and their log host calls, across all of its
// instances, in lines and in bytes per second, each with a burst. Output
// over the rates is dropped and counted; the count is logged at most once
// every ten seconds, with the next output of the controller, and kept in
// Dropped. It is safe for concurrent use.
type LogLimiter struct {
	mu    sync.Mutex
	lines bucket
	bytes bucket
	// now reads the clock; tests replace it.
	now func() time.Time

	pendingLines, pendingBytes uint64 // dropped since the last report
	droppedLines, droppedBytes uint64 // dropped in all
	lastReport                 time.Time
}

// NewLogLimiter returns a limiter admitting linesPerSecond lines and
// bytesPerSecond bytes on average, and bursts of lineBurst lines and
// byteBurst bytes.
func NewLogLimiter(linesPerSecond float64, lineBurst int, bytesPerSecond float64, byteBurst int) *LogLimiter {
	now := time.Now()
	return &LogLimiter{
		lines:      bucket{rate: linesPerSecond, burst: float64(lineBurst), tokens: float64(lineBurst), last: now},
		bytes:      bucket{rate: bytesPerSecond, burst: float64(byteBurst), tokens: float64(byteBurst), last: now},
		now:        time.Now,
		lastReport: now,
	}
}

// newDefaultLogLimiter is the limiter of an instance configured without one.
func newDefaultLogLimiter() *LogLimiter {
	return NewLogLimiter(DefaultLogLinesPerSecond, DefaultLogLineBurst, DefaultLogBytesPerSecond, DefaultLogByteBurst)
}

// Dropped returns how many lines and bytes of output the limiter dropped
// since it was made.
func (l *LogLimiter) Dropped() (lines, bytes uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.droppedLines, l.droppedBytes
}

// admit says whether a line of n bytes may be logged. When drops are
// pending and the last report is old enough it first logs a report to
// logger.
func (l *LogLimiter) admit(logger klog.Logger, n int) bool {
	l.mu.Lock()
	now := l.now()
	ok := l.lines.take(now, 1) && l.bytes.take(now, float64(n))
	if !ok {
		l.pendingLines++
		l.pendingBytes += uint64(n)
		l.droppedLines++
		l.droppedBytes += uint64(n)
	}
	var lines, bytes uint64
	if l.pendingLines > 0 && now.Sub(l.lastReport) >= logReportEvery {
		lines, bytes = l.pendingLines, l.pendingBytes
		l.pendingLines, l.pendingBytes, l.lastReport = 0, 0, now
	}
	l.mu.Unlock()
	if lines > 0 {
		logger.Info("Dropped guest output over the log rate limit", "lines", lines, "bytes", bytes)
	}
	return ok
}

// bucket is a token bucket; its owner locks it.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take refills the bucket for the time since its last use and takes n
// tokens if it holds them. A request larger than the burst is admitted
// only from a full bucket, which it empties.
func (b *bucket) take(now time.Time, n float64) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if n > b.burst && b.tokens >= b.burst {
		n = b.burst
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}
