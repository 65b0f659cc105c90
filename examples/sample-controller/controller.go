package main

import (
	"context"
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
)

const controllerAgentName = "sample-controller"

// Reasons and messages of the Events recorded on a Foo.
const (
	// SuccessSynced is the reason of the Event recorded when a Foo is synced.
	SuccessSynced = "Synced"
	// ErrResourceExists is the reason of the Event recorded when the
	// Deployment a Foo names exists and is not controlled by it.
	ErrResourceExists = "ErrResourceExists"

	// MessageResourceExists is the message of an ErrResourceExists Event.
	MessageResourceExists = "Resource %q already exists and is not managed by Foo"
	// MessageResourceSynced is the message of a Synced Event.
	MessageResourceSynced = "Foo synced successfully"
	// FieldManager names the controller as the manager of the fields it writes.
	FieldManager = controllerAgentName
)

// Controller reconciles Foos: for each it keeps a Deployment of nginx, named
// by the Foo and controlled by it, with the Foo's replicas, and reports the
// Deployment's available replicas in the Foo's status.
//
// The host runs it: it watches Foos and Deployments, maps a Deployment to
// the Foo that controls it (wasmcontroller.yaml), queues the keys, retries
// failures with backoff and calls Reconcile with one Foo's key at a time.
type Controller struct {
	// deployments returns a typed client of the Deployments in a namespace;
	// its Gets are served from the host's cache.
	deployments func(namespace string) deploymentClient
	// foos reads Foos (from the host's cache) and writes their status.
	foos fooClient
	// recorder records Events, sent before the reconcile returns.
	recorder eventRecorder
}

// Reconcile implements sdk.Reconciler: the key is a Foo's. An error has the
// host retry the key with backoff.
func (c *Controller) Reconcile(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	err := c.syncHandler(ctx, req)
	if err == nil {
		sdk.Debug("Successfully synced", "objectName", req.String())
	}
	return sdk.Result{}, err
}

// syncHandler brings the Deployment of the Foo named by objectRef to what
// the Foo asks and writes the Foo's status.
func (c *Controller) syncHandler(ctx context.Context, objectRef sdk.Request) error {
	foo, err := c.foos.Get(ctx, objectRef.Namespace, objectRef.Name)
	if err != nil {
		// A deleted Foo needs nothing: the garbage collector deletes its
		// Deployment.
		if sdk.IsNotFound(err) {
			sdk.Debug("Foo referenced by the key no longer exists", "objectReference", objectRef.String())
			return nil
		}
		return err
	}

	deploymentName := foo.Spec.DeploymentName
	if deploymentName == "" {
		// Retrying cannot help: the Foo is reconciled again when its spec
		// changes.
		sdk.Error(nil, "Deployment name missing from object reference", "objectReference", objectRef.String())
		return nil
	}

	// The Deployment the Foo names; create it when it does not exist.
	deployment, err := c.deployments(foo.Namespace).Get(ctx, deploymentName, metav1.GetOptions{})
	if errors.IsNotFound(err) {
		deployment, err = c.deployments(foo.Namespace).Create(ctx, newDeployment(foo), metav1.CreateOptions{FieldManager: FieldManager})
	}
	if err != nil {
		return err
	}

	// Never take over a Deployment this Foo does not control.
	if !metav1.IsControlledBy(deployment, foo) {
		msg := fmt.Sprintf(MessageResourceExists, deployment.Name)
		c.recorder.Event(foo, corev1.EventTypeWarning, ErrResourceExists, msg)
		return fmt.Errorf("%s", msg)
	}

	// Replicas as the Foo asks, when it asks.
	if foo.Spec.Replicas != nil && *foo.Spec.Replicas != *deployment.Spec.Replicas {
		sdk.Debug("Update deployment resource", "currentReplicas", *deployment.Spec.Replicas, "desiredReplicas", *foo.Spec.Replicas)
		deployment, err = c.deployments(foo.Namespace).Update(ctx, newDeployment(foo), metav1.UpdateOptions{FieldManager: FieldManager})
	}
	if err != nil {
		return err
	}

	err = c.updateFooStatus(ctx, foo, deployment)
	if err != nil {
		return err
	}
	c.recorder.Event(foo, corev1.EventTypeNormal, SuccessSynced, MessageResourceSynced)
	return nil
}

// updateFooStatus writes the Deployment's available replicas into the
// Foo's status, through the status subresource.
func (c *Controller) updateFooStatus(ctx context.Context, foo *Foo, deployment *appsv1.Deployment) error {
	// foo was decoded for this reconcile: it is ours to change, unlike an
	// object of an informer's cache.
	fooCopy := foo.DeepCopy()
	fooCopy.Status.AvailableReplicas = deployment.Status.AvailableReplicas
	_, err := c.foos.UpdateStatus(ctx, fooCopy, metav1.UpdateOptions{FieldManager: FieldManager})
	return err
}

// newDeployment returns the Deployment of foo: nginx with foo's replicas,
// controlled by foo.
func newDeployment(foo *Foo) *appsv1.Deployment {
	labels := map[string]string{
		"app":        "nginx",
		"controller": foo.Name,
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:      foo.Spec.DeploymentName,
			Namespace: foo.Namespace,
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(foo, fooKind),
			},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: foo.Spec.Replicas,
			Selector: &metav1.LabelSelector{
				MatchLabels: labels,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: labels,
				},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{
						{
							Name:  "nginx",
							Image: "nginx:latest",
						},
					},
				},
			},
		},
	}
}

// newController returns a Controller whose Deployment clients send their
// requests through rt and whose Foo client and Events go through client.
func newController(client *sdk.Client, rt http.RoundTripper) (*Controller, error) {
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	deployments, err := newDeploymentClients(scheme, rt)
	if err != nil {
		return nil, err
	}
	return &Controller{
		deployments: deployments,
		foos:        fooClient{client: client},
		recorder:    newEventRecorder(scheme, client),
	}, nil
}
