package sdk

import (
	"encoding/json"
	"time"
)

// GetAPIVersion returns apiVersion.
func (o *Object) GetAPIVersion() string { return o.getString("apiVersion") }

// SetAPIVersion sets apiVersion.
func (o *Object) SetAPIVersion(v string) { o.setString(v, "apiVersion") }

// GetKind returns kind.
func (o *Object) GetKind() string { return o.getString("kind") }

// SetKind sets kind.
func (o *Object) SetKind(v string) { o.setString(v, "kind") }

// GetName returns metadata.name.
func (o *Object) GetName() string { return o.getString("metadata", "name") }

// SetName sets metadata.name.
func (o *Object) SetName(v string) { o.setString(v, "metadata", "name") }

// GetNamespace returns metadata.namespace.
func (o *Object) GetNamespace() string { return o.getString("metadata", "namespace") }

// SetNamespace sets metadata.namespace.
func (o *Object) SetNamespace(v string) { o.setString(v, "metadata", "namespace") }

// GetUID returns metadata.uid.
func (o *Object) GetUID() string { return o.getString("metadata", "uid") }

// GetResourceVersion returns metadata.resourceVersion.
func (o *Object) GetResourceVersion() string { return o.getString("metadata", "resourceVersion") }

// SetResourceVersion sets metadata.resourceVersion; empty removes it.
func (o *Object) SetResourceVersion(v string) {
	if v == "" {
		o.RemoveNestedField("metadata", "resourceVersion")
		return
	}
	o.setString(v, "metadata", "resourceVersion")
}

// GetGeneration returns metadata.generation.
func (o *Object) GetGeneration() int64 {
	g, _ := o.NestedInt64("metadata", "generation")
	return g
}

// GetLabels returns a copy of metadata.labels; nil when there are none.
func (o *Object) GetLabels() map[string]string { return o.getStringMap("metadata", "labels") }

// SetLabels sets metadata.labels; nil or empty removes them.
func (o *Object) SetLabels(labels map[string]string) { o.setStringMap(labels, "metadata", "labels") }

// GetAnnotations returns a copy of metadata.annotations; nil when there are none.
func (o *Object) GetAnnotations() map[string]string {
	return o.getStringMap("metadata", "annotations")
}

// SetAnnotations sets metadata.annotations; nil or empty removes them.
func (o *Object) SetAnnotations(annotations map[string]string) {
	o.setStringMap(annotations, "metadata", "annotations")
}

// GetFinalizers returns metadata.finalizers.
func (o *Object) GetFinalizers() []string {
	s, _ := o.NestedSlice("metadata", "finalizers")
	var out []string
	for _, v := range s {
		if f, ok := v.(string); ok {
			out = append(out, f)
		}
	}
	return out
}

// SetFinalizers sets metadata.finalizers; nil or empty removes them.
func (o *Object) SetFinalizers(finalizers []string) {
	if len(finalizers) == 0 {
		o.RemoveNestedField("metadata", "finalizers")
		return
	}
	_ = o.SetNestedField(finalizers, "metadata", "finalizers")
}

// GetCreationTimestamp returns metadata.creationTimestamp; the zero time
// when it is missing or malformed.
func (o *Object) GetCreationTimestamp() time.Time {
	return o.getTime("metadata", "creationTimestamp")
}

// GetDeletionTimestamp returns metadata.deletionTimestamp; nil when the
// object is not being deleted.
func (o *Object) GetDeletionTimestamp() *time.Time {
	t := o.getTime("metadata", "deletionTimestamp")
	if t.IsZero() {
		return nil
	}
	return &t
}

// GetOwnerReferences returns metadata.ownerReferences; nil when there are
// none or they are malformed.
func (o *Object) GetOwnerReferences() []OwnerReference {
	v, ok := o.NestedField("metadata", "ownerReferences")
	if !ok {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var refs []OwnerReference
	if err := json.Unmarshal(b, &refs); err != nil {
		return nil
	}
	return refs
}

// SetOwnerReferences sets metadata.ownerReferences; nil or empty removes them.
func (o *Object) SetOwnerReferences(refs []OwnerReference) {
	if len(refs) == 0 {
		o.RemoveNestedField("metadata", "ownerReferences")
		return
	}
	_ = o.SetNestedField(refs, "metadata", "ownerReferences")
}

func (o *Object) getString(fields ...string) string {
	s, _ := o.NestedString(fields...)
	return s
}

func (o *Object) setString(v string, fields ...string) {
	_ = o.SetNestedField(v, fields...)
}

func (o *Object) getStringMap(fields ...string) map[string]string {
	m, ok := o.NestedStringMap(fields...)
	if !ok || len(m) == 0 {
		return nil
	}
	return m
}

func (o *Object) setStringMap(m map[string]string, fields ...string) {
	if len(m) == 0 {
		o.RemoveNestedField(fields...)
		return
	}
	_ = o.SetNestedField(m, fields...)
}

func (o *Object) getTime(fields ...string) time.Time {
	s, ok := o.NestedString(fields...)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
