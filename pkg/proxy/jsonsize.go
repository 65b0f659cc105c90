package proxy

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// objectSize returns the length of a cached object encoded as JSON, 0 for
// what is not an unstructured object.
func objectSize(obj any) int {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u == nil {
		return 0
	}
	return jsonSize(u.Object)
}

// jsonSize returns the length of what encoding/json's Marshal makes of v,
// without encoding it: it walks the maps, slices, strings, numbers, bools
// and nils an unstructured object is made of, allocating nothing. A value
// of another type, which an object decoded from JSON does not hold, is
// encoded to be measured.
func jsonSize(v any) int {
	switch v := v.(type) {
	case nil:
		return len("null")
	case bool:
		if v {
			return len("true")
		}
		return len("false")
	case string:
		return quotedSize(v)
	case int64:
		return intSize(v)
	case int:
		return intSize(int64(v))
	case float64:
		return floatSize(v)
	case map[string]any:
		n := len("{}")
		for k, e := range v {
			n += quotedSize(k) + len(":") + jsonSize(e)
		}
		if len(v) > 1 {
			n += len(v) - 1 // commas
		}
		return n
	case []any:
		n := len("[]")
		for _, e := range v {
			n += jsonSize(e)
		}
		if len(v) > 1 {
			n += len(v) - 1
		}
		return n
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return 0
		}
		return len(b)
	}
}

// intSize is the number of characters of n in decimal.
func intSize(n int64) int {
	var buf [20]byte
	return len(strconv.AppendInt(buf[:0], n, 10))
}

// floatSize is the length of f as encoding/json writes it: the shortest
// decimal that reads back as f, in exponent form below 1e-6 and from 1e21
// on, with an exponent of at least one digit.
func floatSize(f float64) int {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0 // not encodable
	}
	var buf [32]byte
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
		// strconv writes two exponent digits at least ("1e-07"),
		// encoding/json one ("1e-7").
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			return n - 1
		}
		return len(b)
	}
	return len(strconv.AppendFloat(buf[:0], f, 'f', -1, 64))
}

// quotedSize is the length of s as a JSON string in encoding/json's
// default form: quoted, with quotes, backslashes and control characters
// escaped, and also <, >, &, U+2028 and U+2029 (safe in HTML); an invalid
// UTF-8 byte becomes \ufffd.
func quotedSize(s string) int {
	n := len(`""`)
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				n += len(`\u0000`)
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += len(`\ufffd`)
		default:
			n += size
		}
		i += size
	}
	return n
}
