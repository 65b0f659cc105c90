package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// NestedField returns the value at the path of fields, and whether it exists.
func (o *Object) NestedField(fields ...string) (any, bool) {
	if o == nil {
		return nil, false
	}
	var v any = o.Object
	for _, f := range fields {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[f]; !ok {
			return nil, false
		}
	}
	return v, true
}

// NestedString returns the string at the path of fields; false when it is
// missing or not a string.
func (o *Object) NestedString(fields ...string) (string, bool) {
	v, _ := o.NestedField(fields...)
	s, ok := v.(string)
	return s, ok
}

// NestedBool returns the bool at the path of fields; false when it is
// missing or not a bool.
func (o *Object) NestedBool(fields ...string) (value, ok bool) {
	v, _ := o.NestedField(fields...)
	value, ok = v.(bool)
	return value, ok
}

// NestedInt64 returns the integer at the path of fields; false when it is
// missing or not an integer.
func (o *Object) NestedInt64(fields ...string) (int64, bool) {
	v, _ := o.NestedField(fields...)
	return toInt64(v)
}

// NestedFloat64 returns the number at the path of fields; false when it is
// missing or not a number.
func (o *Object) NestedFloat64(fields ...string) (float64, bool) {
	v, _ := o.NestedField(fields...)
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	if i, ok := toInt64(v); ok {
		return float64(i), true
	}
	return 0, false
}

func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, true
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, false
		}
		return int64(v), true
	}
	return 0, false
}

// NestedMap returns the map at the path of fields; false when it is missing
// or not a map. The map is the object's own: changes to it change the object.
func (o *Object) NestedMap(fields ...string) (map[string]any, bool) {
	v, _ := o.NestedField(fields...)
	m, ok := v.(map[string]any)
	return m, ok
}

// NestedStringMap returns a copy of the map of strings at the path of
// fields; false when it is missing, not a map, or holds a value that is not
// a string.
func (o *Object) NestedStringMap(fields ...string) (map[string]string, bool) {
	m, ok := o.NestedMap(fields...)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

// NestedSlice returns the list at the path of fields; false when it is
// missing or not a list. The list is the object's own.
func (o *Object) NestedSlice(fields ...string) ([]any, bool) {
	v, _ := o.NestedField(fields...)
	s, ok := v.([]any)
	return s, ok
}

// SetNestedField sets the value at the path of fields, creating the maps on
// the way and replacing anything there that is not a map. Strings, bools,
// numbers, nil, map[string]any and []any are stored as they are; other
// values (structs, typed maps and slices) are stored as their JSON form.
//
// # Errors
//
// When value cannot be encoded as JSON, or fields is empty.
func (o *Object) SetNestedField(value any, fields ...string) error {
	if len(fields) == 0 {
		return fmt.Errorf("SetNestedField: no field path")
	}
	v, err := normalize(value)
	if err != nil {
		return fmt.Errorf("SetNestedField %v: %w", fields, err)
	}
	if o.Object == nil {
		o.Object = map[string]any{}
	}
	m := o.Object
	for _, f := range fields[:len(fields)-1] {
		next, ok := m[f].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[f] = next
		}
		m = next
	}
	m[fields[len(fields)-1]] = v
	return nil
}

// RemoveNestedField removes the value at the path of fields, if any.
func (o *Object) RemoveNestedField(fields ...string) {
	if len(fields) == 0 {
		return
	}
	m, ok := o.NestedMap(fields[:len(fields)-1]...)
	if !ok {
		return
	}
	delete(m, fields[len(fields)-1])
}

// normalize turns v into the form Object holds.
func normalize(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, json.Number, int64, float64, map[string]any, []any:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		return m, nil
	case []string:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = e
		}
		return s, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}
