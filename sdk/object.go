package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Object is a Kubernetes object of any kind held as its JSON map, in the
// manner of client-go's Unstructured. Numbers are held as json.Number, so
// integers such as metadata.generation survive a round trip exactly.
//
// The zero Object is an empty object ready to use.
type Object struct {
	// Object is the object's JSON content.
	Object map[string]any
}

// NewObject returns an object with apiVersion, kind, namespace and name set;
// namespace is left out when empty.
func NewObject(apiVersion, kind, namespace, name string) *Object {
	o := &Object{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	if namespace != "" {
		o.SetNamespace(namespace)
	}
	o.SetName(name)
	return o
}

// ObjectFrom converts v, any value that encodes to a JSON object (a struct
// with JSON tags, a map, an *Object), to an *Object. An *Object is returned
// as is.
//
// # Errors
//
// When v does not encode to a JSON object.
func ObjectFrom(v any) (*Object, error) {
	switch v := v.(type) {
	case *Object:
		return v, nil
	case Object:
		return &v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", v, err)
	}
	o := &Object{}
	if err := o.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("%T: %w", v, err)
	}
	return o, nil
}

// Into decodes the object into v, a pointer to a struct with JSON tags (or
// anything else encoding/json decodes into).
func (o *Object) Into(v any) error {
	b, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s into %T: %w", o.describe(), v, err)
	}
	return nil
}

// MarshalJSON encodes the object; a nil object encodes as {}.
func (o *Object) MarshalJSON() ([]byte, error) {
	if o == nil || o.Object == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(o.Object)
}

// UnmarshalJSON decodes a JSON object, keeping numbers as json.Number.
func (o *Object) UnmarshalJSON(b []byte) error {
	m, err := decodeMap(b)
	if err != nil {
		return err
	}
	o.Object = m
	return nil
}

// decodeMap decodes a JSON object with numbers as json.Number.
func decodeMap(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("decoding object: not a JSON object")
	}
	return m, nil
}

// DeepCopy returns a copy of the object sharing nothing with it.
func (o *Object) DeepCopy() *Object {
	if o == nil {
		return nil
	}
	return &Object{Object: deepCopyMap(o.Object)}
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopyMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyValue(e)
		}
		return out
	default:
		return v
	}
}

// describe names the object in errors: "Kind namespace/name".
func (o *Object) describe() string {
	key := o.GetName()
	if ns := o.GetNamespace(); ns != "" {
		key = ns + "/" + key
	}
	if k := o.GetKind(); k != "" {
		return k + " " + key
	}
	return key
}

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
