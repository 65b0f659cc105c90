package main

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasm-apiserver/wasm-apiserver/sdk"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/sdktest"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/transport"
)

func newFoo(name, deployment string, replicas int32) *Foo {
	return &Foo{
		TypeMeta:   metav1.TypeMeta{APIVersion: fooKind.GroupVersion().String(), Kind: fooKind.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "d"},
		Spec:       FooSpec{DeploymentName: deployment, Replicas: &replicas},
	}
}

// testController returns a Controller of cluster, through sdk/transport for
// client-go as in the guest.
func testController(t *testing.T, cluster *sdktest.Cluster) *Controller {
	t.Helper()
	c, err := newController(sdk.NewClientFor(cluster), transport.NewFor(cluster))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getDeployment(t *testing.T, cluster *sdktest.Cluster, name string) *appsv1.Deployment {
	t.Helper()
	obj := cluster.Get(sdk.Deployments, "d", name)
	if obj == nil {
		return nil
	}
	d := &appsv1.Deployment{}
	if err := obj.Into(d); err != nil {
		t.Fatal(err)
	}
	return d
}

func getFoo(t *testing.T, cluster *sdktest.Cluster, name string) *Foo {
	t.Helper()
	foo := &Foo{}
	if err := cluster.Get(foos, "d", name).Into(foo); err != nil {
		t.Fatal(err)
	}
	return foo
}

// events returns the reasons and messages of the Events recorded in d.
func events(cluster *sdktest.Cluster) []string {
	var out []string
	for _, e := range cluster.List(sdk.Events, "d") {
		reason, _ := e.NestedString("reason")
		message, _ := e.NestedString("message")
		kind, _ := e.NestedString("involvedObject", "kind")
		out = append(out, kind+" "+reason+": "+message)
	}
	return out
}

func TestController_Sync(t *testing.T) {
	cluster := sdktest.NewCluster(t, newFoo("example-foo", "example-foo", 1))
	c := testController(t, cluster)
	req := sdk.Request{Namespace: "d", Name: "example-foo"}
	reconcile := func() {
		t.Helper()
		if _, err := c.Reconcile(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}

	// A new Foo: its Deployment is created, controlled by it.
	reconcile()
	d := getDeployment(t, cluster, "example-foo")
	foo := getFoo(t, cluster, "example-foo")
	if d == nil {
		t.Fatal("no Deployment created")
	}
	if ref := metav1.GetControllerOf(d); ref == nil || ref.UID != foo.UID || ref.Kind != "Foo" ||
		ref.APIVersion != "samplecontroller.k8s.io/v1alpha1" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller of the Deployment = %+v, want the Foo %s", ref, foo.UID)
	}
	if *d.Spec.Replicas != 1 || d.Spec.Template.Labels["controller"] != "example-foo" {
		t.Errorf("Deployment spec = %+v", d.Spec)
	}
	if got := events(cluster); len(got) != 1 || got[0] != "Foo Synced: Foo synced successfully" {
		t.Errorf("Events = %q, want one Synced", got)
	}

	// The Deployment reports available replicas: the status follows.
	obj := cluster.Get(sdk.Deployments, "d", "example-foo")
	_ = obj.SetNestedField(int64(1), "status", "availableReplicas")
	if _, err := sdk.NewClientFor(cluster).UpdateStatus(t.Context(), sdk.Deployments, obj); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if got := getFoo(t, cluster, "example-foo").Status.AvailableReplicas; got != 1 {
		t.Errorf("status.availableReplicas = %d, want 1", got)
	}

	// More replicas: the Deployment follows.
	obj = cluster.Get(foos, "d", "example-foo")
	_ = obj.SetNestedField(int64(3), "spec", "replicas")
	if _, err := sdk.NewClientFor(cluster).Update(t.Context(), foos, obj); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if d := getDeployment(t, cluster, "example-foo"); *d.Spec.Replicas != 3 {
		t.Errorf("Deployment replicas = %d, want 3", *d.Spec.Replicas)
	}

	// A deleted Deployment comes back.
	if err := sdk.NewClientFor(cluster).Delete(t.Context(), sdk.Deployments, "d", "example-foo"); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if d := getDeployment(t, cluster, "example-foo"); d == nil || *d.Spec.Replicas != 3 {
		t.Errorf("Deployment after its deletion = %+v, want it recreated with 3 replicas", d)
	}

	// A deleted Foo needs nothing.
	if err := sdk.NewClientFor(cluster).Delete(t.Context(), foos, "d", "example-foo"); err != nil {
		t.Fatal(err)
	}
	before := len(cluster.Writes())
	reconcile()
	if writes := cluster.Writes()[before:]; len(writes) != 0 {
		t.Errorf("a reconcile of a deleted Foo wrote %q", writes)
	}
}

func TestController_DeploymentNotOwned(t *testing.T) {
	replicas := int32(2)
	taken := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: "d"},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
	}
	cluster := sdktest.NewCluster(t, newFoo("foo", "taken", 5), taken)
	c := testController(t, cluster)
	before := len(cluster.Writes())
	_, err := c.Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "foo"})
	if err == nil || !strings.Contains(err.Error(), `Resource "taken" already exists and is not managed by Foo`) {
		t.Fatalf("err = %v, want the Deployment refused", err)
	}
	if d := getDeployment(t, cluster, "taken"); *d.Spec.Replicas != 2 || len(d.OwnerReferences) != 0 {
		t.Errorf("a Deployment the Foo does not own was changed: %+v", d)
	}
	want := `Foo ErrResourceExists: Resource "taken" already exists and is not managed by Foo`
	if got := events(cluster); len(got) != 1 || got[0] != want {
		t.Errorf("Events = %q, want %q", got, want)
	}
	for _, w := range cluster.Writes()[before:] {
		if !strings.Contains(w, "/events") {
			t.Errorf("wrote %s", w)
		}
	}
}

func TestController_NoDeploymentName(t *testing.T) {
	cluster := sdktest.NewCluster(t, newFoo("foo", "", 1))
	if _, err := testController(t, cluster).Reconcile(t.Context(), sdk.Request{Namespace: "d", Name: "foo"}); err != nil {
		t.Errorf("err = %v, want none: a retry cannot help", err)
	}
	if n := len(cluster.List(sdk.Deployments, "d")); n != 0 {
		t.Errorf("%d Deployments created", n)
	}
}
