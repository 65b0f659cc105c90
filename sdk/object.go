package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// errNotObject says that JSON decoded as an object is not one (null).
var errNotObject = errors.New("not a JSON object")

// decodeNumbers decodes b into v with numbers as json.Number, as objects
// are decoded everywhere in the SDK.
func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// decodeMap decodes a JSON object with numbers as json.Number.
func decodeMap(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := decodeNumbers(b, &m); err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("decoding object: %w", errNotObject)
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
