package sdk

import "fmt"

// KindFunc returns the apiVersion and kind of obj, or ok false when it does
// not know them.
type KindFunc func(obj any) (apiVersion, kind string, ok bool)

// groupVersionKind is the shape of apimachinery's schema.GroupVersionKind.
type groupVersionKind interface {
	~struct{ Group, Version, Kind string }
}

// KindsFrom returns a KindFunc asking scheme, such as client-go's
// scheme.Scheme (a *runtime.Scheme), for the kind of an object:
//
//	sdk.WithEventKinds(sdk.KindsFrom(scheme.Scheme))
//
// It takes any type with the method ObjectKinds of runtime.Scheme, so this
// package needs no dependency on apimachinery.
func KindsFrom[O any, GVK groupVersionKind](scheme interface {
	ObjectKinds(O) ([]GVK, bool, error)
}) KindFunc {
	return func(obj any) (string, string, bool) {
		o, ok := obj.(O)
		if !ok {
			return "", "", false
		}
		gvks, _, err := scheme.ObjectKinds(o)
		if err != nil || len(gvks) == 0 {
			return "", "", false
		}
		gvk := struct{ Group, Version, Kind string }(gvks[0])
		apiVersion := gvk.Version
		if gvk.Group != "" {
			apiVersion = gvk.Group + "/" + gvk.Version
		}
		return apiVersion, gvk.Kind, true
	}
}

// reference returns the object reference of object.
func (r *EventRecorder[O]) reference(object any) (objectReference, error) {
	if object == nil {
		return objectReference{}, fmt.Errorf("no object")
	}
	o, err := ObjectFrom(object)
	if err != nil {
		return objectReference{}, err
	}
	ref := objectReference{
		APIVersion:      o.GetAPIVersion(),
		Kind:            o.GetKind(),
		Namespace:       o.GetNamespace(),
		Name:            o.GetName(),
		UID:             o.GetUID(),
		ResourceVersion: o.GetResourceVersion(),
	}
	if (ref.APIVersion == "" || ref.Kind == "") && r.cfg.kinds != nil {
		if apiVersion, kind, ok := r.cfg.kinds(object); ok {
			ref.APIVersion, ref.Kind = apiVersion, kind
		}
	}
	switch {
	case ref.Kind == "" || ref.APIVersion == "":
		return objectReference{}, fmt.Errorf("%T %q has no apiVersion and kind: set them, or give the recorder WithEventKinds", object, ref.Name)
	case ref.Name == "":
		return objectReference{}, fmt.Errorf("%s has no name", ref.Kind)
	}
	return ref, nil
}
