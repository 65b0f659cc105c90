package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// countingAuthorizer is an Authorizer whose reviews allow, counted.
func countingAuthorizer() (*Authorizer, *fake.Clientset, *atomic.Int32) {
	kube := fake.NewClientset()
	var reviews atomic.Int32
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		reviews.Add(1)
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		sar.Status.Allowed = true
		return true, sar, nil
	})
	return NewAuthorizer(kube), kube, &reviews
}

// TestAuthorizer_WatchRBAC: a change to RBAC drops the remembered answers
// at once and is passed on; stopping waits for the watch to end.
func TestAuthorizer_WatchRBAC(t *testing.T) {
	authz, kube, reviews := countingAuthorizer()
	ask := func() {
		t.Helper()
		if ok, err := authz.Allowed(t.Context(), "u", "list", configMaps, "ns"); err != nil || !ok {
			t.Fatalf("Allowed = %v, %v", ok, err)
		}
	}
	ask()
	ask()
	if n := reviews.Load(); n != 1 {
		t.Fatalf("%d reviews, want 1: the second answer is remembered", n)
	}

	ctx, cancel := context.WithCancel(t.Context())
	var changes atomic.Int32
	var watching sync.WaitGroup
	watching.Go(func() { authz.WatchRBAC(ctx, func() { changes.Add(1) }) })
	defer func() {
		cancel()
		watching.Wait()
	}()

	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "grant"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"}}
	if _, err := kube.RbacV1().RoleBindings("ns").Create(t.Context(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, wait.ForeverTestTimeout, true,
		func(context.Context) (bool, error) { return changes.Load() > 0, nil })
	if err != nil {
		t.Fatal("the RoleBinding created was not passed on as a change")
	}
	ask()
	if n := reviews.Load(); n != 2 {
		t.Errorf("%d reviews, want 2: the change to RBAC drops the remembered answer", n)
	}
}

// TestAuthorizer_ForgetDuringReview: an answer asked for before RBAC
// changed is not remembered after the change.
func TestAuthorizer_ForgetDuringReview(t *testing.T) {
	kube := fake.NewClientset()
	var authz *Authorizer
	var reviews atomic.Int32
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if reviews.Add(1) == 1 {
			authz.Forget() // RBAC changes while the first review is under way
		}
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		sar.Status.Allowed = true
		return true, sar, nil
	})
	authz = NewAuthorizer(kube)
	for range 2 {
		if ok, err := authz.Allowed(t.Context(), "u", "get", configMaps, "ns"); err != nil || !ok {
			t.Fatalf("Allowed = %v, %v", ok, err)
		}
	}
	if n := reviews.Load(); n != 2 {
		t.Errorf("%d reviews, want 2: the answer of a review RBAC changed under is not reused", n)
	}
	if ok, err := authz.Allowed(t.Context(), "u", "get", configMaps, "ns"); err != nil || !ok || reviews.Load() != 2 {
		t.Errorf("Allowed = %v, %v after %d reviews; want the second answer remembered", ok, err, reviews.Load())
	}
}
