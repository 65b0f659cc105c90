package main

import (
	"context"
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

// deploymentClient is the part of client-go's typed DeploymentInterface
// the controller uses.
type deploymentClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*appsv1.Deployment, error)
	Create(ctx context.Context, deployment *appsv1.Deployment, opts metav1.CreateOptions) (*appsv1.Deployment, error)
	Update(ctx context.Context, deployment *appsv1.Deployment, opts metav1.UpdateOptions) (*appsv1.Deployment, error)
}

// newScheme returns a scheme of the types the controller uses: apps/v1 and
// Foo. client-go's kubernetes/scheme registers every built-in API group,
// which makes the module about 23 MB larger; see README.md.
func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	scheme.AddKnownTypeWithName(fooKind, &Foo{})
	metav1.AddToGroupVersion(scheme, fooKind.GroupVersion())
	return scheme, nil
}

// newDeploymentClients returns typed clients of apps/v1 Deployments, one per
// namespace, that send their requests through rt (sdk/transport in the
// guest). They are built as client-go builds its generated clients, on the
// scheme given instead of client-go's own.
func newDeploymentClients(scheme *runtime.Scheme, rt http.RoundTripper) (func(namespace string) deploymentClient, error) {
	codecs := serializer.NewCodecFactory(scheme)
	client, err := rest.RESTClientFor(&rest.Config{
		Host:    "http://wasm-apiserver", // a placeholder: the host sends requests where it decides
		APIPath: "/apis",
		ContentConfig: rest.ContentConfig{
			GroupVersion:         &appsv1.SchemeGroupVersion,
			ContentType:          "application/json", // the host takes JSON only
			NegotiatedSerializer: codecs.WithoutConversion(),
		},
		Transport: rt,
		// No client-side rate limit: client-go's default of 5 requests a
		// second would make the guest sleep within its reconcile, which the
		// host bounds and rate-limits already.
		QPS: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("client of deployments: %w", err)
	}
	params := runtime.NewParameterCodec(scheme)
	return func(namespace string) deploymentClient {
		return gentype.NewClientWithList[*appsv1.Deployment, *appsv1.DeploymentList]("deployments", client, params, namespace,
			func() *appsv1.Deployment { return &appsv1.Deployment{} },
			func() *appsv1.DeploymentList { return &appsv1.DeploymentList{} })
	}, nil
}

// eventRecorder is the method of client-go's record.EventRecorder the
// controller uses; sdk.EventRecorder[runtime.Object] has it.
type eventRecorder interface {
	Event(object runtime.Object, eventtype, reason, message string)
}

// newEventRecorder returns the SDK's recorder, which sends each Event within
// the reconcile that records it, finding the kinds of typed objects in
// scheme.
func newEventRecorder(scheme *runtime.Scheme, client *sdk.Client) eventRecorder {
	return sdk.NewEventRecorderFor[runtime.Object](controllerAgentName,
		sdk.WithEventKinds(sdk.KindsFrom(scheme)), sdk.WithEventClient(client))
}
