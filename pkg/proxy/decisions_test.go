package proxy

import (
	"strconv"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// reviewCounter counts the SubjectAccessReviews asked, per user and
// namespace.
type reviewCounter struct {
	mu     sync.Mutex
	counts map[[2]string]int
}

func (r *reviewCounter) of(user, namespace string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[[2]string{user, namespace}]
}

func (r *reviewCounter) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.counts {
		n += c
	}
	return n
}

// reviewingAuthorizer is an Authorizer on a stopped clock whose reviews
// are counted and answered by allow.
func reviewingAuthorizer(allow func(user string, ra *authorizationv1.ResourceAttributes) bool) (*Authorizer, *fake.Clientset, *reviewCounter, *time.Time) {
	kube := fake.NewClientset()
	reviews := &reviewCounter{counts: map[[2]string]int{}}
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		reviews.mu.Lock()
		reviews.counts[[2]string{sar.Spec.User, ra.Namespace}]++
		reviews.mu.Unlock()
		sar.Status.Allowed = allow(sar.Spec.User, ra)
		return true, sar, nil
	})
	now := time.Unix(1_000_000, 0)
	return newAuthorizer(kube, func() time.Time { return now }), kube, reviews, &now
}

const (
	alice = "system:serviceaccount:alice:sa"
	mallo = "system:serviceaccount:mallory:sa"
)

// TestAuthorizer_FloodKeepsOtherTenantsAnswers: a tenant whose guest reads
// more distinct names than any bound does not make another tenant's
// remembered answers be asked again.
func TestAuthorizer_FloodKeepsOtherTenantsAnswers(t *testing.T) {
	authz, _, reviews, _ := reviewingAuthorizer(func(user string, ra *authorizationv1.ResourceAttributes) bool {
		return user == alice || ra.Name != "" // mallory may read objects only by name
	})
	ask := func(user string, access Access) {
		t.Helper()
		if ok, err := authz.AllowedAccess(t.Context(), user, access); err != nil || !ok {
			t.Fatalf("AllowedAccess(%s, %+v) = %v, %v", user, access, ok, err)
		}
	}
	aliceReads := Access{Verb: "get", Resource: configMaps, Namespace: "alice", Name: "config"}
	ask(alice, aliceReads)
	const flood = 10_010
	for i := range flood {
		ask(mallo, Access{Verb: "get", Resource: configMaps, Namespace: "mallory", Name: "cm-" + strconv.Itoa(i)})
	}
	ask(alice, aliceReads)
	if n := reviews.of(alice, "alice"); n != 1 {
		t.Errorf("alice's read was reviewed %d times, want 1: another tenant's reads evicted her answer", n)
	}
	// Each name costs one review: the denial of the whole resource is
	// remembered whatever the number of names.
	if n := reviews.of(mallo, "mallory"); n != flood+1 {
		t.Errorf("mallory's %d reads of distinct names cost %d reviews, want %d", flood, n, flood+1)
	}
}

// TestAuthorizer_RemembersBoundedly: a tenant's named answers, whose names
// guests choose, are bounded; past the bound the least recently used go.
func TestAuthorizer_RemembersBoundedly(t *testing.T) {
	authz, _, reviews, _ := reviewingAuthorizer(func(_ string, ra *authorizationv1.ResourceAttributes) bool {
		return ra.Name != ""
	})
	named := func(i int) Access {
		return Access{Verb: "get", Resource: configMaps, Namespace: "mallory", Name: "cm-" + strconv.Itoa(i)}
	}
	for i := range maxNamedAnswersPerTenant + 1 {
		if ok, err := authz.AllowedAccess(t.Context(), mallo, named(i)); err != nil || !ok {
			t.Fatalf("AllowedAccess(cm-%d) = %v, %v", i, ok, err)
		}
	}
	before := reviews.total()
	if _, err := authz.AllowedAccess(t.Context(), mallo, named(maxNamedAnswersPerTenant)); err != nil || reviews.total() != before {
		t.Errorf("the latest named answer was asked again (%v)", err)
	}
	if _, err := authz.AllowedAccess(t.Context(), mallo, named(0)); err != nil || reviews.total() != before+1 {
		t.Errorf("the oldest named answer past the bound of %d: %d reviews, want it asked again (%v)",
			maxNamedAnswersPerTenant, reviews.total()-before, err)
	}
}

// TestAuthorizer_Expiry: an allowed answer is reused for allowedTTL, a
// denied one for deniedTTL.
func TestAuthorizer_Expiry(t *testing.T) {
	tests := []struct {
		name    string
		allowed bool
		ttl     time.Duration
	}{
		{"allowed", true, allowedTTL},
		{"denied", false, deniedTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authz, _, reviews, now := reviewingAuthorizer(func(string, *authorizationv1.ResourceAttributes) bool { return tt.allowed })
			ask := func(wantReviews int) {
				t.Helper()
				ok, err := authz.Allowed(t.Context(), alice, "list", configMaps, "alice")
				if err != nil || ok != tt.allowed || reviews.total() != wantReviews {
					t.Fatalf("at %s: Allowed = %v, %v after %d reviews; want %v after %d", now.Format(time.TimeOnly),
						ok, err, reviews.total(), tt.allowed, wantReviews)
				}
			}
			ask(1)
			*now = now.Add(tt.ttl - time.Second)
			ask(1)
			*now = now.Add(2 * time.Second)
			ask(2)
		})
	}
}

// TestAuthorizer_ForgetDuringReview: an answer asked for before RBAC
// changed in a way that may alter it is not remembered after the change;
// one that the change cannot alter is.
func TestAuthorizer_ForgetDuringReview(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*Authorizer)
		wantKept bool
	}{
		{"every answer", (*Authorizer).Forget, false},
		{"its namespace", func(a *Authorizer) { a.ForgetNamespace("ns") }, false},
		{"another namespace", func(a *Authorizer) { a.ForgetNamespace("other") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset()
			var authz *Authorizer
			reviews := 0
			kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if reviews++; reviews == 1 {
					tt.change(authz) // RBAC changes while the first review is under way
				}
				sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
				sar.Status.Allowed = true
				return true, sar, nil
			})
			authz = NewAuthorizer(kube)
			for range 3 {
				if ok, err := authz.Allowed(t.Context(), "u", "get", configMaps, "ns"); err != nil || !ok {
					t.Fatalf("Allowed = %v, %v", ok, err)
				}
			}
			want := 2
			if tt.wantKept {
				want = 1
			}
			if reviews != want {
				t.Errorf("%d reviews for three asks, want %d", reviews, want)
			}
		})
	}
}

// BenchmarkAuthorizer_Remembered answers a read from a remembered answer,
// as every guest read that passed once is, with 64 tenants' answers held.
func BenchmarkAuthorizer_Remembered(b *testing.B) {
	authz, _, _, _ := reviewingAuthorizer(func(string, *authorizationv1.ResourceAttributes) bool { return true })
	for i := range 64 {
		ns := "tenant-" + strconv.Itoa(i)
		for j := range 32 {
			if _, err := authz.Allowed(b.Context(), ServiceAccountUser(ns, "sa"), "get", configMaps, ns+"-"+strconv.Itoa(j)); err != nil {
				b.Fatal(err)
			}
		}
	}
	user := ServiceAccountUser("tenant-7", "sa")
	access := Access{Verb: "get", Resource: configMaps, Namespace: "tenant-7-3", Name: "config"}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := authz.AllowedAccess(b.Context(), user, access); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
