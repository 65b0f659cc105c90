package main

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cachev1alpha1 "github.com/wasm-apiserver/wasm-apiserver/examples/memcached-operator/api/v1alpha1"
	"github.com/wasm-apiserver/wasm-apiserver/examples/memcached-operator/internal/controller"
	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/controllerruntime"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/sdktest"
)

// TestReconcile runs the kubebuilder Reconciler as the guest runs it:
// through controllerruntime's adapter and controller-runtime's client, over
// an in-memory API instead of the host.
func TestReconcile(t *testing.T) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cachev1alpha1.AddToScheme(scheme))
	cluster := sdktest.NewCluster(t, &cachev1alpha1.Memcached{
		TypeMeta:   metav1.TypeMeta{APIVersion: "cache.example.com/v1alpha1", Kind: "Memcached"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cache"},
		Spec:       cachev1alpha1.MemcachedSpec{Size: 2},
	})
	c, err := controllerruntime.NewClientFor(cluster, scheme)
	if err != nil {
		t.Fatal(err)
	}
	r := controllerruntime.NewReconciler(&controller.MemcachedReconciler{Client: c, Scheme: scheme})
	ctx := t.Context()
	key := types.NamespacedName{Namespace: "default", Name: "cache"}
	reconcile := func() {
		t.Helper()
		res, err := r.Reconcile(ctx, sdk.Request{Namespace: key.Namespace, Name: key.Name, Reason: sdk.ReasonEvent})
		if err != nil || res != (sdk.Result{}) {
			t.Fatalf("reconcile = %+v, %v", res, err)
		}
	}

	reconcile()
	memcached := &cachev1alpha1.Memcached{}
	if err := c.Get(ctx, key, memcached); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, key, dep); err != nil {
		t.Fatalf("no Deployment: %v", err)
	}
	if got := ptr.Deref(dep.Spec.Replicas, 0); got != 2 {
		t.Errorf("Deployment replicas = %d, want 2", got)
	}
	owner := metav1.GetControllerOf(dep)
	if owner == nil || owner.Kind != "Memcached" || owner.Name != "cache" || owner.UID != memcached.UID {
		t.Errorf("Deployment controller = %+v, want the Memcached (uid %s)", owner, memcached.UID)
	}
	svc := &corev1.Service{}
	if err := c.Get(ctx, key, svc); err != nil {
		t.Fatalf("no Service: %v", err)
	}
	if owner := metav1.GetControllerOf(svc); owner == nil || owner.UID != memcached.UID {
		t.Errorf("Service controller = %+v", owner)
	}
	if !meta.IsStatusConditionTrue(memcached.Status.Conditions, "Available") || memcached.Status.ObservedGeneration != 1 {
		t.Errorf("status = %+v, want Available at generation 1", memcached.Status)
	}

	// Scaled: the Deployment follows.
	memcached.Spec.Size = 3
	if err := c.Update(ctx, memcached); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if err := c.Get(ctx, key, dep); err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(dep.Spec.Replicas, 0); got != 3 {
		t.Errorf("Deployment replicas after scaling = %d, want 3", got)
	}

	// The service was applied with the controller's field manager.
	var applies int
	for _, req := range cluster.Requests() {
		if req.Method == "PATCH" && req.Headers["Content-Type"] == "application/apply-patch+yaml" {
			applies++
			if req.Query != "fieldManager=memcached-operator&force=true" {
				t.Errorf("apply query = %q", req.Query)
			}
		}
	}
	if applies != 2 {
		t.Errorf("%d apply patches, want one per reconcile", applies)
	}

	// Deleted: nothing to do.
	if err := c.Delete(ctx, memcached); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if err := c.List(ctx, &appsv1.DeploymentList{}, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
}
