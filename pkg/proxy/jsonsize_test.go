package proxy

import (
	"encoding/json"
	"math"
	"testing"
)

// TestJSONSize: the size of a cached object is what encoding it gives,
// escapes and number forms included.
func TestJSONSize(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{name: "null", v: nil},
		{name: "bools", v: []any{true, false}},
		{name: "empty containers", v: map[string]any{"m": map[string]any{}, "s": []any{}}},
		{name: "integers", v: []any{int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64), 42}},
		{name: "floats", v: []any{0.0, -0.0, 1.5, 1e-6, 1e-7, 123456789e-15, 1e20, 1e21, -1e21, 1.7976931348623157e308, 5e-324}},
		{name: "plain string", v: "configmap-1"},
		{name: "escaped ascii", v: "quote\" back\\ \b\f\n\r\t \x00\x1f <a href='x'>&amp;</a>"},
		{name: "unicode", v: "héllo 世界 🙂 \u2028\u2029"},
		{name: "invalid utf-8", v: "a\xffb\xc3"},
		{name: "escaped keys", v: map[string]any{"<k>": "v", "a\"b": int64(1)}},
		{name: "object", v: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "one", "namespace": "a", "creationTimestamp": nil,
				"labels": map[string]any{"app": "x"}},
			"data": map[string]any{"k": "line1\nline2"},
			"list": []any{map[string]any{"x": 1.25}, "s", int64(3), nil},
		}},
		{name: "other type", v: map[string]any{"typed": []string{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonSize(tt.v); got != len(b) {
				t.Errorf("jsonSize = %d, want %d (%s)", got, len(b), b)
			}
		})
	}
}

// FuzzJSONSize compares the size of strings and numbers with their
// encoding.
func FuzzJSONSize(f *testing.F) {
	f.Add("<&>\u2028\xff", 1e-7, int64(-5))
	f.Fuzz(func(t *testing.T, s string, x float64, n int64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		v := map[string]any{s: []any{s, x, n}}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonSize(v); got != len(b) {
			t.Errorf("jsonSize(%#v) = %d, want %d (%s)", v, got, len(b), b)
		}
	})
}
