package proxy

import (
	"strings"
	"sync"
	"time"

	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/utils/lru"
)

// The bounds of the remembered answers. Each tenant (the namespace of the
// ServiceAccount asked about) has its own answers, so that no tenant's
// requests evict another's:
//   - maxAnswersPerTenant answers about a whole resource (every object of it
//     in a namespace, or in all of them): what watches and lists need, a few
//     per watch;
//   - maxNamedAnswersPerTenant answers about one object by name, asked only
//     when the whole resource is denied (RBAC's resourceNames), whose names
//     guests choose. Kept apart, a guest reading many names evicts only its
//     own named answers, never the answer about the whole resource, so each
//     name costs one review, not two.
//
// Past maxTenants tenants, the least recently active one's answers go.
const (
	maxTenants               = 256
	maxAnswersPerTenant      = 256
	maxNamedAnswersPerTenant = 128
)

// decisions remembers SubjectAccessReview answers, bounded per tenant, each
// until it expires or until RBAC changes in a way that may alter it.
//
// RBAC changes are counted rather than cleared: each change takes the next
// number of a sequence, and an answer holds the number current when it was
// asked for. An answer is valid while no change that may alter it came
// after it: a change to a Role or RoleBinding of namespace N alters only
// answers about N, since it grants nothing elsewhere, and a change to a
// ClusterRole or ClusterRoleBinding any answer. So forgetting costs the
// same whatever the number of answers, and a tenant changing its own Roles
// makes only the answers about its namespace be asked again.
type decisions struct {
	clock utilcache.Clock

	mu      sync.Mutex
	tenants *lru.Cache // tenant → *tenantDecisions
	// seq numbers the RBAC changes.
	seq uint64
	// clusterChanged is the number of the last change that may alter every
	// answer.
	clusterChanged uint64
	// namespaceChanged is the number of the last change in a namespace
	// since clusterChanged: older ones are covered by it, so this holds no
	// more namespaces than changed RBAC since the last cluster-wide change.
	namespaceChanged map[string]uint64
}

// tenantDecisions are one tenant's answers.
type tenantDecisions struct {
	wide, named *utilcache.LRUExpireCache // accessKey → decision
}

type decision struct {
	allowed bool
	// asked is the number of the last RBAC change before the review.
	asked uint64
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

func newDecisions(now func() time.Time) *decisions {
	return &decisions{clock: clockFunc(now), tenants: lru.New(maxTenants), namespaceChanged: map[string]uint64{}}
}

// get returns the remembered answer to key, if there is a valid one.
func (d *decisions) get(key accessKey) (allowed, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, found := d.tenants.Get(tenantOf(key.user))
	if !found {
		return false, false
	}
	v, found := t.(*tenantDecisions).of(key).Get(key)
	if !found {
		return false, false
	}
	dec := v.(decision)
	if !d.validLocked(dec.asked, key.Namespace) {
		return false, false
	}
	return dec.allowed, true
}

// begin returns the number of the last RBAC change, for an answer about to
// be asked for.
func (d *decisions) begin() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

// put remembers the answer to key for ttl, unless RBAC changed in a way
// that may alter it since begin returned asked.
func (d *decisions) put(key accessKey, allowed bool, asked uint64, ttl time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.validLocked(asked, key.Namespace) {
		return
	}
	tenant := tenantOf(key.user)
	t, found := d.tenants.Get(tenant)
	if !found {
		t = &tenantDecisions{
			wide:  utilcache.NewLRUExpireCacheWithClock(maxAnswersPerTenant, d.clock),
			named: utilcache.NewLRUExpireCacheWithClock(maxNamedAnswersPerTenant, d.clock),
		}
		d.tenants.Add(tenant, t)
	}
	t.(*tenantDecisions).of(key).Add(key, decision{allowed: allowed, asked: asked}, ttl)
}

// validLocked says whether an answer about namespace asked after change
// number asked is still valid. d.mu is held.
func (d *decisions) validLocked(asked uint64, namespace string) bool {
	return asked >= d.clusterChanged && asked >= d.namespaceChanged[namespace]
}

// forgetNamespace invalidates the answers about namespace, for a change to
// a Role or RoleBinding there.
func (d *decisions) forgetNamespace(namespace string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.namespaceChanged[namespace] = d.seq
}

// forgetAll invalidates every answer, for a change to a ClusterRole or
// ClusterRoleBinding.
func (d *decisions) forgetAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.clusterChanged = d.seq
	clear(d.namespaceChanged)
}

func (t *tenantDecisions) of(key accessKey) *utilcache.LRUExpireCache {
	if key.Name != "" {
		return t.named
	}
	return t.wide
}

// tenantOf is the tenant a user belongs to: the namespace of a
// ServiceAccount, the user itself otherwise.
func tenantOf(user string) string {
	const prefix = "system:serviceaccount:"
	if rest, ok := strings.CutPrefix(user, prefix); ok {
		if ns, _, ok := strings.Cut(rest, ":"); ok {
			return ns
		}
	}
	return user
}
