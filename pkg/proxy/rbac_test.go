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

	changes := watchRBAC(t, authz)

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

// TestAuthorizer_WatchRBACForgetsWhatAChangeMayAlter: a change to a Role
// or RoleBinding makes only the answers about its namespace be asked again,
// so that a tenant churning its own RBAC costs no other tenant a review; a
// change to a ClusterRole or ClusterRoleBinding makes every answer be asked
// again; an update that leaves what an object grants as it was, none.
func TestAuthorizer_WatchRBACForgetsWhatAChangeMayAlter(t *testing.T) {
	reader := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "reader"}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "sa", Namespace: "mallory"}}
	tests := []struct {
		name   string
		change func(t *testing.T, kube *fake.Clientset)
		// changes is the number of changes passed on.
		changes int
		// asked again: about mallory, about alice, about all namespaces.
		wantAsked [3]bool
	}{
		{"RoleBinding created", func(t *testing.T, kube *fake.Clientset) {
			create(t, kube.RbacV1().RoleBindings("mallory").Create,
				&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "mallory"}, RoleRef: reader, Subjects: subject})
		}, 1, [3]bool{true, false, false}},
		{"Role deleted", func(t *testing.T, kube *fake.Clientset) {
			if err := kube.RbacV1().Roles("mallory").Delete(t.Context(), "existing", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}, 1, [3]bool{true, false, false}},
		{"RoleBinding's subjects changed", func(t *testing.T, kube *fake.Clientset) {
			rb := existingRoleBinding(reader, nil)
			update(t, kube.RbacV1().RoleBindings("mallory").Update, rb)
		}, 1, [3]bool{true, false, false}},
		{"RoleBinding's labels changed", func(t *testing.T, kube *fake.Clientset) {
			rb := existingRoleBinding(reader, subject)
			rb.Labels = map[string]string{"churn": "1"}
			update(t, kube.RbacV1().RoleBindings("mallory").Update, rb)
		}, 0, [3]bool{false, false, false}},
		{"ClusterRole created", func(t *testing.T, kube *fake.Clientset) {
			create(t, kube.RbacV1().ClusterRoles().Create, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "new"}})
		}, 1, [3]bool{true, true, true}},
		{"ClusterRoleBinding created", func(t *testing.T, kube *fake.Clientset) {
			create(t, kube.RbacV1().ClusterRoleBindings().Create,
				&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "new"}, RoleRef: reader, Subjects: subject})
		}, 1, [3]bool{true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authz, kube, reviews, _ := reviewingAuthorizer(func(string, *authorizationv1.ResourceAttributes) bool { return true })
			create(t, kube.RbacV1().Roles("mallory").Create, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "existing", Namespace: "mallory"}})
			create(t, kube.RbacV1().RoleBindings("mallory").Create, existingRoleBinding(reader, subject))

			changes := watchRBAC(t, authz)
			waitChanges := func(n int32) {
				t.Helper()
				err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, wait.ForeverTestTimeout, true,
					func(context.Context) (bool, error) { return changes.Load() >= n, nil })
				if err != nil {
					t.Fatalf("%d changes passed on, want %d", changes.Load(), n)
				}
			}
			waitChanges(2) // the first lists

			namespaces := [3]string{"mallory", "alice", ""}
			askAll := func() {
				t.Helper()
				for _, ns := range namespaces {
					if ok, err := authz.Allowed(t.Context(), alice, "list", configMaps, ns); err != nil || !ok {
						t.Fatalf("Allowed(%q) = %v, %v", ns, ok, err)
					}
				}
			}
			askAll()
			var before [3]int
			for i, ns := range namespaces {
				before[i] = reviews.of(alice, ns)
			}
			tt.change(t, kube)
			// A RoleBinding created after the change is passed on after it.
			create(t, kube.RbacV1().RoleBindings("sentinel").Create,
				&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "sentinel", Namespace: "sentinel"}, RoleRef: reader})
			waitChanges(2 + int32(tt.changes) + 1)
			askAll()
			for i, ns := range namespaces {
				if asked := reviews.of(alice, ns) > before[i]; asked != tt.wantAsked[i] {
					t.Errorf("the answer about namespace %q asked again: %v, want %v", ns, asked, tt.wantAsked[i])
				}
			}
		})
	}
}

func existingRoleBinding(role rbacv1.RoleRef, subjects []rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "existing", Namespace: "mallory"}, RoleRef: role, Subjects: subjects}
}

// create calls a typed client's Create and fails the test on an error.
func create[T any](t *testing.T, call func(context.Context, T, metav1.CreateOptions) (T, error), obj T) {
	t.Helper()
	if _, err := call(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// update calls a typed client's Update and fails the test on an error.
func update[T any](t *testing.T, call func(context.Context, T, metav1.UpdateOptions) (T, error), obj T) {
	t.Helper()
	if _, err := call(t.Context(), obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// watchRBAC runs authz.WatchRBAC until the test ends and counts the
// changes it tells of.
func watchRBAC(t *testing.T, authz *Authorizer) *atomic.Int32 {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	changes := new(atomic.Int32)
	var watching sync.WaitGroup
	watching.Go(func() { authz.WatchRBAC(ctx, func() { changes.Add(1) }) })
	t.Cleanup(func() {
		cancel()
		watching.Wait()
	})
	return changes
}
