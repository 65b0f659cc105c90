// Package controller holds the Memcached controller.
package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	cachev1alpha1 "github.com/wasm-apiserver/wasm-apiserver/examples/memcached-operator/api/v1alpha1"
)

const (
	// typeAvailable is the condition saying whether the Deployment and the
	// Service are as the Memcached wants them.
	typeAvailable = "Available"
	// fieldOwner is the field manager of the Service the controller applies.
	fieldOwner = "memcached-operator"
	// defaultImage runs memcached when the spec names no image.
	defaultImage = "memcached:1.6.26-alpine3.19"
)

// MemcachedReconciler reconciles a Memcached object.
type MemcachedReconciler struct {
	client.Client
	Scheme *runtime.Scheme
}

// +kubebuilder:rbac:groups=cache.example.com,resources=memcacheds,verbs=get;list;watch
// +kubebuilder:rbac:groups=cache.example.com,resources=memcacheds/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cache.example.com,resources=memcacheds/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core,resources=services,verbs=get;list;watch;create;patch

// Reconcile keeps a Deployment of spec.size memcached Pods and a Service in
// front of them for each Memcached, both owned by it, and reports in the
// Available condition.
func (r *MemcachedReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)

	memcached := &cachev1alpha1.Memcached{}
	if err := r.Get(ctx, req.NamespacedName, memcached); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted: the garbage collector deletes what it owned.
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting the Memcached: %w", err)
	}

	found := &appsv1.Deployment{}
	err := r.Get(ctx, req.NamespacedName, found)
	switch {
	case apierrors.IsNotFound(err):
		dep, err := r.deploymentForMemcached(memcached)
		if err != nil {
			return ctrl.Result{}, err
		}
		log.Info("Creating a new Deployment", "Deployment.Namespace", dep.Namespace, "Deployment.Name", dep.Name)
		if err := r.Create(ctx, dep); err != nil {
			return ctrl.Result{}, r.unavailable(ctx, memcached, "CreatingDeploymentFailed", err)
		}
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting the Deployment: %w", err)
	case ptr.Deref(found.Spec.Replicas, 1) != memcached.Spec.Size:
		log.Info("Scaling the Deployment", "from", ptr.Deref(found.Spec.Replicas, 1), "to", memcached.Spec.Size)
		found.Spec.Replicas = ptr.To(memcached.Spec.Size)
		if err := r.Update(ctx, found); err != nil {
			return ctrl.Result{}, r.unavailable(ctx, memcached, "ScalingDeploymentFailed", err)
		}
	}

	// The Service is applied (server-side apply): the API server merges it
	// with what others set, and a Service that is already right is left
	// alone.
	if err := r.Apply(ctx, serviceForMemcached(memcached), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return ctrl.Result{}, r.unavailable(ctx, memcached, "ApplyingServiceFailed", err)
	}

	meta.SetStatusCondition(&memcached.Status.Conditions, metav1.Condition{
		Type:    typeAvailable,
		Status:  metav1.ConditionTrue,
		Reason:  "Reconciled",
		Message: fmt.Sprintf("Deployment with %d replicas and Service for custom resource %s are ready", memcached.Spec.Size, memcached.Name),
	})
	memcached.Status.ObservedGeneration = memcached.Generation
	if err := r.Status().Update(ctx, memcached); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating the Memcached status: %w", err)
	}
	return ctrl.Result{}, nil
}

// unavailable records a failed step in the Available condition and returns
// its error, so that the reconcile is retried.
func (r *MemcachedReconciler) unavailable(ctx context.Context, memcached *cachev1alpha1.Memcached, reason string, cause error) error {
	meta.SetStatusCondition(&memcached.Status.Conditions, metav1.Condition{
		Type:    typeAvailable,
		Status:  metav1.ConditionFalse,
		Reason:  reason,
		Message: cause.Error(),
	})
	if err := r.Status().Update(ctx, memcached); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to update the Memcached status")
	}
	return cause
}

// deploymentForMemcached returns the Deployment of a Memcached, owned by it.
func (r *MemcachedReconciler) deploymentForMemcached(memcached *cachev1alpha1.Memcached) (*appsv1.Deployment, error) {
	image := memcached.Spec.Image
	if image == "" {
		image = defaultImage
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:      memcached.Name,
			Namespace: memcached.Namespace,
			Labels:    labelsForMemcached(memcached.Name),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(memcached.Spec.Size),
			Selector: &metav1.LabelSelector{MatchLabels: labelsForMemcached(memcached.Name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labelsForMemcached(memcached.Name)},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "memcached",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						SecurityContext: &corev1.SecurityContext{
							RunAsUser:                ptr.To[int64](1001),
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						Ports:   []corev1.ContainerPort{{ContainerPort: 11211, Name: "memcached"}},
						Command: []string{"memcached", "--memory-limit=64", "-o", "modern", "-v"},
					}},
				},
			},
		},
	}
	if err := ctrl.SetControllerReference(memcached, dep, r.Scheme); err != nil {
		return nil, fmt.Errorf("setting the Deployment's owner: %w", err)
	}
	return dep, nil
}

// serviceForMemcached returns the apply configuration of the Service of a
// Memcached, owned by it.
func serviceForMemcached(memcached *cachev1alpha1.Memcached) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(memcached.Name, memcached.Namespace).
		WithLabels(labelsForMemcached(memcached.Name)).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(cachev1alpha1.GroupVersion.String()).
			WithKind("Memcached").
			WithName(memcached.Name).
			WithUID(memcached.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithSpec(corev1ac.ServiceSpec().
			WithSelector(labelsForMemcached(memcached.Name)).
			WithPorts(corev1ac.ServicePort().
				WithName("memcached").
				WithPort(11211).
				WithTargetPort(intstr.FromString("memcached"))))
}

// labelsForMemcached returns the labels of the objects of a Memcached.
func labelsForMemcached(name string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "memcached",
		"app.kubernetes.io/instance":   name,
		"app.kubernetes.io/managed-by": "memcached-operator",
	}
}

// SetupWithManager sets up the controller with the Manager.
func (r *MemcachedReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&cachev1alpha1.Memcached{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Named("memcached").
		Complete(r)
}
