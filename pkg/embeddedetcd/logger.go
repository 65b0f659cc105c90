package embeddedetcd

import (
	"io"
	"os"
	"sync/atomic"

	"go.etcd.io/etcd/client/pkg/v3/logutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger returns the logger etcd logs through: etcd's own JSON format, at
// error level, to out (stderr when nil). Once closing is set, only panics
// and fatal errors are logged: stopping etcd closes its listeners under its
// serving goroutines, each of which then logs the closed listener as an
// error with a stack trace, although nothing failed.
func newLogger(out io.Writer, closing *atomic.Bool) *zap.Logger {
	if out == nil {
		out = os.Stderr
	}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(logutil.DefaultZapLoggerConfig.EncoderConfig),
		zapcore.Lock(zapcore.AddSync(out)), zapcore.ErrorLevel)
	return zap.New(&quietOnClose{Core: core, closing: closing}, zap.AddCaller())
}

// quietOnClose drops entries below DPanic once closing is set.
type quietOnClose struct {
	zapcore.Core
	closing *atomic.Bool
}

func (c *quietOnClose) With(fields []zapcore.Field) zapcore.Core {
	return &quietOnClose{Core: c.Core.With(fields), closing: c.closing}
}

func (c *quietOnClose) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.closing.Load() && e.Level < zapcore.DPanicLevel {
		return ce
	}
	return c.Core.Check(e, ce)
}
