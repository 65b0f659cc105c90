package proxy

import (
	"context"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// How long a SubjectAccessReview's answer is reused: as long as
// kube-apiserver's webhook authorizer keeps an allowed answer by default.
// Any change to RBAC drops every answer at once (the host watches Roles,
// ClusterRoles and their bindings), so these bound only how late a change
// made by another authorizer is seen. Denials expire sooner, so that a grant
// takes effect quickly.
const (
	allowedTTL = 5 * time.Minute
	deniedTTL  = 5 * time.Second
)

// Authorizer asks the cluster (SubjectAccessReview) whether a user may get
// or list a resource, and remembers the answer for a short while.
type Authorizer struct {
	client kubernetes.Interface
	now    func() time.Time

	mu        sync.Mutex
	decisions map[accessKey]decision
}

type accessKey struct {
	user, verb, namespace string
	resource              schema.GroupVersionResource
}

type decision struct {
	allowed bool
	expires time.Time
}

// NewAuthorizer returns an Authorizer that asks through client.
func NewAuthorizer(client kubernetes.Interface) *Authorizer {
	return &Authorizer{client: client, now: time.Now, decisions: map[accessKey]decision{}}
}

// Allowed says whether user may verb the resource in namespace ("" for all
// namespaces or a cluster-scoped resource).
func (a *Authorizer) Allowed(ctx context.Context, user, verb string, gvr schema.GroupVersionResource, namespace string) (bool, error) {
	key := accessKey{user: user, verb: verb, namespace: namespace, resource: gvr}
	a.mu.Lock()
	d, ok := a.decisions[key]
	a.mu.Unlock()
	if ok && a.now().Before(d.expires) {
		return d.allowed, nil
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: serviceAccountGroups(user),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource, Namespace: namespace,
		},
	}}
	resp, err := a.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	ttl := deniedTTL
	if resp.Status.Allowed {
		ttl = allowedTTL
	}
	a.mu.Lock()
	a.decisions[key] = decision{allowed: resp.Status.Allowed, expires: a.now().Add(ttl)}
	a.mu.Unlock()
	return resp.Status.Allowed, nil
}

// Forget drops every remembered answer, for when RBAC changed.
func (a *Authorizer) Forget() {
	a.mu.Lock()
	clear(a.decisions)
	a.mu.Unlock()
}

// serviceAccountGroups are the groups the API server gives a ServiceAccount.
func serviceAccountGroups(user string) []string {
	const prefix = "system:serviceaccount:"
	if len(user) <= len(prefix) || user[:len(prefix)] != prefix {
		return nil
	}
	rest := user[len(prefix):]
	for i := range len(rest) {
		if rest[i] == ':' {
			return []string{"system:serviceaccounts", "system:serviceaccounts:" + rest[:i], "system:authenticated"}
		}
	}
	return nil
}
