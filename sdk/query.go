package sdk

import (
	"maps"
	"slices"
	"strings"
)

// query is a URL query of single-valued parameters. The SDK encodes queries
// itself rather than with net/url, which would add its dependencies to every
// guest.
type query map[string]string

// set sets key to value; an empty value leaves the query as it is.
func (q query) set(key, value string) {
	if value != "" {
		q[key] = value
	}
}

// encode returns the query in URL-encoded form, "a=1&b=2", sorted by key.
func (q query) encode() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		escape(&b, k)
		b.WriteByte('=')
		escape(&b, q[k])
	}
	return b.String()
}

// escape writes s escaped as a query component, as url.QueryEscape does.
func escape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}
