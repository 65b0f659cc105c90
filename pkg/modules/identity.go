package modules

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/lru"
)

// ClientFunc returns a client of the target cluster that acts as the
// ServiceAccount serviceAccount of namespace.
type ClientFunc func(namespace, serviceAccount string) (kubernetes.Interface, error)

// maxServiceAccountClients bounds the clients kept by ServiceAccountClients:
// one per ServiceAccount that recently named a ConfigMap or a pull Secret.
const maxServiceAccountClients = 64

// ServiceAccountClients returns a ClientFunc whose clients impersonate the
// ServiceAccount on the cluster of cfg. They share one connection pool, and
// the most recently used are kept for reuse.
//
// # Notes
//
//   - Only the user is impersonated: the API server then gives the
//     ServiceAccount its groups (system:serviceaccounts and
//     system:serviceaccounts:<namespace>) itself, so the server needs
//     "impersonate" on serviceaccounts and nothing on groups.
//   - Each client has its own rate limiter, from cfg's QPS and Burst.
func ServiceAccountClients(cfg *rest.Config) (ClientFunc, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{} // the ServiceAccount's, never the server's own
	base, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of the target cluster: %w", err)
	}
	if base.Transport == nil {
		base.Transport = http.DefaultTransport
	}
	c := &saClients{cfg: cfg, base: base, cache: lru.New(maxServiceAccountClients)}
	return c.clientFor, nil
}

type saClients struct {
	cfg  *rest.Config
	base *http.Client

	mu    sync.Mutex // makes a miss build one client, not one per caller
	cache *lru.Cache // user name → kubernetes.Interface
}

func (c *saClients) clientFor(namespace, serviceAccount string) (kubernetes.Interface, error) {
	if namespace == "" || serviceAccount == "" {
		return nil, errors.New("a ServiceAccount needs a namespace and a name")
	}
	user := serviceaccount.MakeUsername(namespace, serviceAccount)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.cache.Get(user); ok {
		return cs.(kubernetes.Interface), nil
	}
	hc := &http.Client{
		Transport: transport.NewImpersonatingRoundTripper(transport.ImpersonationConfig{UserName: user}, c.base.Transport),
		Timeout:   c.base.Timeout,
	}
	cs, err := kubernetes.NewForConfigAndClient(rest.CopyConfig(c.cfg), hc)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", user, err)
	}
	c.cache.Add(user, cs)
	return cs, nil
}
