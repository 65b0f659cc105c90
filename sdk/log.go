package sdk

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// Level is the level of a log message.
type Level = abi.Level

// Log levels of the guest ABI.
const (
	// LevelInfo messages are always shown.
	LevelInfo = abi.LevelInfo
	// LevelDebug messages are shown when the server runs at verbosity 4 or more.
	LevelDebug = abi.LevelDebug
	// LevelError messages report failures.
	LevelError = abi.LevelError
)

// logTo is where messages go; tests replace it.
var logTo = hostLog

// Log writes msg to the server's log at level, tagged by the host with the
// controller's name. Messages over 16 KiB are truncated by the host.
func Log(level Level, msg string) {
	logTo(level, msg)
}

// Info logs msg with key-value pairs, in the manner of klog.InfoS:
//
//	sdk.Info("copied", "namespace", ns, "name", name)
//
// logs `copied namespace="team-a" name="settings"`.
func Info(msg string, kv ...any) {
	logTo(LevelInfo, format(msg, nil, kv))
}

// Debug logs msg with key-value pairs at debug level, shown when the server
// runs at verbosity 4 or more.
func Debug(msg string, kv ...any) {
	logTo(LevelDebug, format(msg, nil, kv))
}

// Error logs msg with err and key-value pairs at error level, in the manner
// of klog.ErrorS. err may be nil.
func Error(err error, msg string, kv ...any) {
	logTo(LevelError, format(msg, err, kv))
}

// format renders msg, err and key-value pairs as one line: the message, then
// err="..." and key=value for each pair, with strings quoted. A key without a
// value gets the value "(MISSING)".
func format(msg string, err error, kv []any) string {
	var b strings.Builder
	b.WriteString(msg)
	if err != nil {
		b.WriteString(" err=")
		b.WriteString(strconv.Quote(err.Error()))
	}
	for i := 0; i < len(kv); i += 2 {
		b.WriteByte(' ')
		if k, ok := kv[i].(string); ok {
			b.WriteString(k)
		} else {
			fmt.Fprint(&b, kv[i])
		}
		b.WriteByte('=')
		if i+1 == len(kv) {
			b.WriteString(`"(MISSING)"`)
			break
		}
		b.WriteString(formatValue(kv[i+1]))
	}
	return b.String()
}

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case error:
		return strconv.Quote(v.Error())
	case fmt.Stringer:
		return strconv.Quote(v.String())
	case []byte:
		return strconv.Quote(string(v))
	case nil:
		return "<nil>"
	default:
		return fmt.Sprint(v)
	}
}
