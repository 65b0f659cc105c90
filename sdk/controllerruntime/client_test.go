package controllerruntime

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/sdktest"
)

// TestClient: controller-runtime's client, built by NewClientFor over an
// API, sends each call as the request envelope the host serves: JSON
// bodies, REST paths from the scheme's mapper, SSA as an apply patch with
// its field manager.
func TestClient(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cluster := sdktest.NewCluster(t, map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "cache", "namespace": "default"},
		"spec":     map[string]any{"replicas": 1},
	})
	c, err := NewClientFor(cluster, scheme)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "cache"}, dep); err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(dep.Spec.Replicas, 0) != 1 {
		t.Fatalf("got replicas %v, want 1", dep.Spec.Replicas)
	}
	dep.Spec.Replicas = ptr.To[int32](3)
	if err := c.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	dep.Status.ReadyReplicas = 3
	if err := c.Status().Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	base := dep.DeepCopy()
	dep.Labels = map[string]string{"app": "cache"}
	if err := c.Patch(ctx, dep, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	var list appsv1.DeploymentList
	if err := c.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": "cache"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Status.ReadyReplicas != 3 {
		t.Errorf("listed %+v, want the patched Deployment with its status", list.Items)
	}
	svc := corev1ac.Service("cache", "default").WithSpec(corev1ac.ServiceSpec().
		WithPorts(corev1ac.ServicePort().WithPort(11211)))
	if err := c.Apply(ctx, svc, client.FieldOwner("memcached-operator"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	err = c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "missing"}, &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing object: %v, want NotFound", err)
	}

	want := []sdk.APIRequest{
		{Method: "GET", Path: "/apis/apps/v1/namespaces/default/deployments/cache"},
		{Method: "PUT", Path: "/apis/apps/v1/namespaces/default/deployments/cache", Headers: map[string]string{"Content-Type": "application/json"}},
		{Method: "PUT", Path: "/apis/apps/v1/namespaces/default/deployments/cache/status", Headers: map[string]string{"Content-Type": "application/json"}},
		{Method: "PATCH", Path: "/apis/apps/v1/namespaces/default/deployments/cache", Headers: map[string]string{"Content-Type": "application/merge-patch+json"}},
		{Method: "GET", Path: "/apis/apps/v1/namespaces/default/deployments", Query: "labelSelector=app%3Dcache"},
		{Method: "PATCH", Path: "/api/v1/namespaces/default/services/cache", Query: "fieldManager=memcached-operator&force=true",
			Headers: map[string]string{"Content-Type": "application/apply-patch+yaml"}},
		{Method: "POST", Path: "/api/v1/namespaces", Headers: map[string]string{"Content-Type": "application/json"}},
		{Method: "GET", Path: "/api/v1/namespaces/default/configmaps/missing"},
	}
	got := cluster.Requests()
	if len(got) != len(want) {
		t.Fatalf("sent %d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.Method || g.Path != w.Path || g.Query != w.Query {
			t.Errorf("request %d: %s %s?%s, want %s %s?%s", i, g.Method, g.Path, g.Query, w.Method, w.Path, w.Query)
		}
		if ct := w.Headers["Content-Type"]; !strings.HasPrefix(g.Headers["Content-Type"], ct) {
			t.Errorf("request %d: Content-Type %q, want %q", i, g.Headers["Content-Type"], ct)
		}
	}
	if applied := cluster.Get(sdk.Resource{Version: "v1", Resource: "services"}, "default", "cache"); applied == nil {
		t.Error("the applied Service was not created")
	}
}
