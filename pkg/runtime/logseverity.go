package runtime

import "bytes"

// severity is the severity of a line a guest wrote to stdout or stderr.
type severity uint8

const (
	// severityNone: the line has no klog header; logged as info.
	severityNone severity = iota
	severityInfo
	severityWarning
	severityError
	severityFatal
)

// String names the severity as klog does.
func (s severity) String() string {
	switch s {
	case severityWarning:
		return "warning"
	case severityError:
		return "error"
	case severityFatal:
		return "fatal"
	default:
		return "info"
	}
}

// klogLine is a line in klog's text format, split at its header.
type klogLine struct {
	severity severity
	// caller is the header's "file:line".
	caller string
	// msg is the rest of the line, after the header.
	msg []byte
}

// parseKlogHeader splits line at a klog header,
//
//	Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg
//
// where L is one of I, W, E and F. It reports false when line does not start
// with one, so the host logs it whole. The header's time and thread are
// dropped: the host's own header gives the time.
func parseKlogHeader(line []byte) (klogLine, bool) {
	const stamp = "Lmmdd hh:mm:ss.uuuuuu " // the fixed part
	if len(line) < len(stamp) {
		return klogLine{}, false
	}
	var sev severity
	switch line[0] {
	case 'I':
		sev = severityInfo
	case 'W':
		sev = severityWarning
	case 'E':
		sev = severityError
	case 'F':
		sev = severityFatal
	default:
		return klogLine{}, false
	}
	for i, want := range []byte(stamp[1:]) {
		c := line[1+i]
		switch want {
		case ' ', ':', '.':
			if c != want {
				return klogLine{}, false
			}
		default:
			if c < '0' || c > '9' {
				return klogLine{}, false
			}
		}
	}
	rest := bytes.TrimLeft(line[len(stamp):], " ")
	thread := 0
	for thread < len(rest) && rest[thread] >= '0' && rest[thread] <= '9' {
		thread++
	}
	if thread == 0 || thread == len(rest) || rest[thread] != ' ' {
		return klogLine{}, false
	}
	rest = rest[thread+1:]
	end := bytes.IndexByte(rest, ']')
	if end <= 0 || bytes.IndexByte(rest[:end], ' ') >= 0 {
		return klogLine{}, false
	}
	msg := rest[end+1:]
	if len(msg) > 0 && msg[0] == ' ' {
		msg = msg[1:]
	}
	return klogLine{severity: sev, caller: string(rest[:end]), msg: msg}, true
}

// continues says whether a line without a header continues the entry before
// it: klog indents the lines of a multi-line value and ends it with " >".
func continues(line []byte) bool {
	return len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
}
