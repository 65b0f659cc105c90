package main

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// fooKind is the group, version and kind of Foo (crd.yaml).
var fooKind = schema.GroupVersionKind{Group: "samplecontroller.k8s.io", Version: "v1alpha1", Kind: "Foo"}

// foos is the Foo resource, for the SDK's client.
var foos = sdk.Resource{Group: fooKind.Group, Version: fooKind.Version, Resource: "foos", Namespaced: true, Kind: fooKind.Kind}

// Foo is a Deployment of nginx with a name and a number of replicas. It
// embeds apimachinery's metadata, so metav1.IsControlledBy and
// metav1.NewControllerRef take it as they take the generated type.
type Foo struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FooSpec   `json:"spec"`
	Status FooStatus `json:"status"`
}

// FooSpec is what the user wants.
type FooSpec struct {
	// DeploymentName names the Deployment to keep.
	DeploymentName string `json:"deploymentName"`
	// Replicas is the Deployment's number of replicas.
	Replicas *int32 `json:"replicas"`
}

// FooStatus is what the controller observed.
type FooStatus struct {
	// AvailableReplicas is the Deployment's status.availableReplicas.
	AvailableReplicas int32 `json:"availableReplicas"`
}

// DeepCopy returns a copy of f sharing nothing with it.
func (f *Foo) DeepCopy() *Foo {
	out := *f
	f.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if f.Spec.Replicas != nil {
		replicas := *f.Spec.Replicas
		out.Spec.Replicas = &replicas
	}
	return &out
}

// fooClient reads and writes Foos. It takes the place of the generated
// clientset and lister: Get is served from the host's cache of the watched
// Foos.
type fooClient struct {
	client *sdk.Client
}

// Get returns the Foo name in namespace.
func (c fooClient) Get(ctx context.Context, namespace, name string) (*Foo, error) {
	obj, err := c.client.Get(ctx, foos, namespace, name)
	if err != nil {
		return nil, err
	}
	foo := &Foo{}
	if err := obj.Into(foo); err != nil {
		return nil, err
	}
	return foo, nil
}

// UpdateStatus writes the status of foo through the status subresource,
// with the field manager of opts.
func (c fooClient) UpdateStatus(ctx context.Context, foo *Foo, opts metav1.UpdateOptions) (*Foo, error) {
	obj, err := c.client.UpdateStatus(ctx, foos, foo, sdk.FieldManager(opts.FieldManager))
	if err != nil {
		return nil, err
	}
	updated := &Foo{}
	if err := obj.Into(updated); err != nil {
		return nil, err
	}
	return updated, nil
}

// DeepCopyObject implements runtime.Object, so that Events about a Foo go
// through the same recorder interface as client-go's.
func (f *Foo) DeepCopyObject() runtime.Object {
	return f.DeepCopy()
}
