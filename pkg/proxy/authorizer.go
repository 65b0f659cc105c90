package proxy

import (
	"context"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// How long a SubjectAccessReview's answer is reused: as long as
// kube-apiserver's webhook authorizer keeps an allowed answer by default.
// A change to RBAC invalidates the answers it may alter at once (WatchRBAC),
// so these bound only how late a change made by another authorizer is seen.
// Denials expire sooner, so that a grant takes effect quickly.
const (
	allowedTTL = 5 * time.Minute
	deniedTTL  = 5 * time.Second
)

// Authorizer asks the cluster (SubjectAccessReview) whether a user may make
// a request (get, list, watch, ... a resource, or one object of it), and
// remembers the answer for a while, within bounds per tenant (see
// decisions).
type Authorizer struct {
	client    kubernetes.Interface
	decisions *decisions
}

// Access is one request a SubjectAccessReview asks about.
type Access struct {
	// Verb is the API verb: get, list, watch, create, ...
	Verb string
	// Resource is the resource asked about.
	Resource schema.GroupVersionResource
	// Namespace is the namespace, "" for all namespaces or a cluster-scoped
	// resource.
	Namespace string
	// Name is the object's name, "" for any object of the resource.
	Name string
}

type accessKey struct {
	user string
	Access
}

// NewAuthorizer returns an Authorizer that asks through client.
func NewAuthorizer(client kubernetes.Interface) *Authorizer {
	return newAuthorizer(client, time.Now)
}

func newAuthorizer(client kubernetes.Interface, now func() time.Time) *Authorizer {
	return &Authorizer{client: client, decisions: newDecisions(now)}
}

// Allowed says whether user may verb the resource in namespace ("" for all
// namespaces or a cluster-scoped resource), whatever the object's name.
func (a *Authorizer) Allowed(ctx context.Context, user, verb string, gvr schema.GroupVersionResource, namespace string) (bool, error) {
	return a.ask(ctx, user, Access{Verb: verb, Resource: gvr, Namespace: namespace})
}

// AllowedVerbs says whether user may do every one of verbs on the resource
// in namespace, e.g. "list" and "watch" for a watch. It stops at the first
// verb denied.
func (a *Authorizer) AllowedVerbs(ctx context.Context, user string, gvr schema.GroupVersionResource, namespace string, verbs ...string) (bool, error) {
	for _, verb := range verbs {
		ok, err := a.Allowed(ctx, user, verb, gvr, namespace)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// AllowedAccess says whether user may make the request access, including
// its object's name, so that RBAC rules with resourceNames count.
//
// # Notes
//
// An access with a name is first asked without it: an answer for every
// name covers each one, as in RBAC, and is one review for all the objects
// of a resource. Only when that is denied is the name asked about.
func (a *Authorizer) AllowedAccess(ctx context.Context, user string, access Access) (bool, error) {
	if access.Name != "" {
		named := access
		access.Name = ""
		if ok, err := a.ask(ctx, user, access); err != nil || ok {
			return ok, err
		}
		access = named
	}
	return a.ask(ctx, user, access)
}

// ask answers one access from memory or with a SubjectAccessReview.
func (a *Authorizer) ask(ctx context.Context, user string, access Access) (bool, error) {
	key := accessKey{user: user, Access: access}
	if allowed, ok := a.decisions.get(key); ok {
		return allowed, nil
	}
	asked := a.decisions.begin()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: serviceAccountGroups(user),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: access.Verb, Group: access.Resource.Group, Version: access.Resource.Version, Resource: access.Resource.Resource,
			Namespace: access.Namespace, Name: access.Name,
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
	// Not kept if RBAC changed during the review in a way that may alter it.
	a.decisions.put(key, resp.Status.Allowed, asked, ttl)
	return resp.Status.Allowed, nil
}

// Forget invalidates every remembered answer, and those of the reviews
// under way, for when RBAC changed in a way that may alter any of them: a
// ClusterRole or ClusterRoleBinding.
func (a *Authorizer) Forget() { a.decisions.forgetAll() }

// ForgetNamespace invalidates the remembered answers about namespace, and
// those of the reviews under way, for when a Role or RoleBinding changed
// there: it grants nothing elsewhere.
func (a *Authorizer) ForgetNamespace(namespace string) { a.decisions.forgetNamespace(namespace) }

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
