package sdk

import "time"

// TypeMeta is the apiVersion and kind of an object, for typed structs:
//
//	type Widget struct {
//		sdk.TypeMeta `json:",inline"`
//		Metadata     sdk.ObjectMeta `json:"metadata"`
//		Spec         WidgetSpec     `json:"spec"`
//	}
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is the metadata most controllers use, for typed structs.
// Fields it lacks (managedFields, for one) are dropped when an object is
// decoded into it; an update without managedFields leaves them unchanged.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	GenerateName      string            `json:"generateName,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	CreationTimestamp time.Time         `json:"creationTimestamp,omitzero"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
	Finalizers        []string          `json:"finalizers,omitempty"`
}

// OwnerReference names an object's owner; the garbage collector deletes the
// object once its owners are gone.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ControllerReference returns an owner reference to owner with controller and
// blockOwnerDeletion set, the reference a controller puts on the objects it
// creates for owner. Setting blockOwnerDeletion needs permission to update
// owner's finalizers subresource.
func ControllerReference(owner *Object) OwnerReference {
	yes := true
	return OwnerReference{
		APIVersion:         owner.GetAPIVersion(),
		Kind:               owner.GetKind(),
		Name:               owner.GetName(),
		UID:                owner.GetUID(),
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
}

// ControllerOf returns the owner reference marked controller, if any.
func ControllerOf(refs []OwnerReference) (OwnerReference, bool) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r, true
		}
	}
	return OwnerReference{}, false
}
