package modules

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// DefaultMaxModuleBytes bounds one module unless the Fetcher says otherwise.
const DefaultMaxModuleBytes = 256 << 20

// DefaultFetchTimeout bounds one fetch, from the first request to the last
// byte, unless the Fetcher says otherwise. Fetches run on the host's few
// loaders: a slow server must give its loader back soon.
const DefaultFetchTimeout = time.Minute

// FetcherConfig is what a Fetcher needs.
type FetcherConfig struct {
	// Store keeps the modules fetched from images and URLs. Required.
	Store *Store
	// Cluster is the target cluster, where ConfigMaps and image pull Secrets
	// are read as the WasmController's ServiceAccount (impersonated, see
	// ServiceAccountClients); nil when there is none.
	Cluster *rest.Config
	// ClientFor, when set, returns the clients that act as ServiceAccounts
	// in place of those built from Cluster.
	ClientFor ClientFunc
	// MaxModuleBytes bounds one module (DefaultMaxModuleBytes when 0).
	MaxModuleBytes int64
	// Timeout bounds one fetch (DefaultFetchTimeout when 0).
	Timeout time.Duration
	// HTTPClient fetches url sources; when nil, a client with short connect,
	// TLS handshake and response header timeouts that refuses loopback,
	// link-local and unspecified addresses unless AllowLocalSources.
	HTTPClient *http.Client
	// AllowLocalSources lets url sources and image registries name or
	// resolve to loopback, link-local and unspecified addresses (and
	// "localhost"), which are refused by default: they reach the server's
	// own node and the cloud's metadata service. A registry listed in
	// InsecureRegistries is the administrator's own and may be local
	// without it.
	AllowLocalSources bool
	// RegistryTransport carries registry requests; when nil, a transport with
	// short connect, TLS handshake and response header timeouts that, for
	// registries neither listed in InsecureRegistries nor allowed by
	// AllowLocalSources, refuses local addresses, whatever name or redirect
	// leads there. When set, it carries every registry's requests as it is.
	RegistryTransport http.RoundTripper
	// InsecureRegistries are registries ("host:port") spoken to over plain
	// HTTP, named by the administrator. Loopback registries (localhost,
	// 127.0.0.1) always are, when they are allowed at all.
	InsecureRegistries []string
	// Metrics count the fetches; nil counts nothing.
	Metrics *Metrics
}

// Fetcher fetches the modules WasmControllers name and verifies them.
type Fetcher struct {
	cfg FetcherConfig
	// localRegistryTransport carries the requests to registries that may be
	// local (listed in InsecureRegistries); cfg.RegistryTransport those to
	// the others.
	localRegistryTransport http.RoundTripper
	downloads              downloads
}

// NewFetcher returns a Fetcher, filling in the defaults of cfg.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.MaxModuleBytes <= 0 {
		cfg.MaxModuleBytes = DefaultMaxModuleBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient(cfg.AllowLocalSources)
	}
	local := cfg.RegistryTransport
	if cfg.RegistryTransport == nil {
		cfg.RegistryTransport = newRegistryTransport(cfg.AllowLocalSources)
		local = cfg.RegistryTransport
		if !cfg.AllowLocalSources {
			local = newRegistryTransport(true)
		}
	}
	if cfg.ClientFor == nil && cfg.Cluster != nil {
		clients, err := ServiceAccountClients(cfg.Cluster)
		if err != nil {
			clients = func(string, string) (kubernetes.Interface, error) { return nil, err }
		}
		cfg.ClientFor = clients
	}
	return &Fetcher{cfg: cfg, localRegistryTransport: local}
}

// Module is a fetched, verified module.
type Module struct {
	// Wasm is the module's bytes.
	Wasm []byte
	// Digest is "sha256:<hex>" of Wasm.
	Digest string
	// ResolvedImage, for an image source, is the reference pinned by
	// digest that the module was pulled from.
	ResolvedImage string

	lease     *Lease
	fromStore bool
}

// Release lets the store remove the module once nobody else uses it.
func (m *Module) Release() { m.lease.Release() }

// Lease is the module's hold on the store, to keep while the module runs
// without keeping its bytes: once loaded, only the lease is needed.
func (m *Module) Lease() *Lease { return m.lease }

// Fetch returns the module wc names, verified against spec.module.sha256
// when set. Modules from images and URLs come from the store when it holds
// them and the request could have fetched them itself (see docs/modules.md).
// ConfigMaps and image pull Secrets are read as wc's ServiceAccount. Release
// the returned Module when the controller stops.
//
// # Errors
//
// An *Error whose Reason says what failed and whose Permanent field says
// whether to wait for a spec change rather than retry. Its message is for
// the WasmController's status and Events, which its tenant reads: the
// details it leaves out (what the network answered) are logged.
func (f *Fetcher) Fetch(ctx context.Context, wc *v1alpha1.WasmController) (*Module, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	src := &wc.Spec.Module
	var (
		m      *Module
		err    error
		source string
	)
	switch {
	case len(src.Inline) > 0:
		source, m = "inline", &Module{Wasm: src.Inline}
	case src.ConfigMapRef != nil:
		var wasm []byte
		source = "configMapRef"
		wasm, err = f.fromConfigMap(ctx, wc)
		m = &Module{Wasm: wasm}
	case src.URL != "":
		source = "url"
		m, err = f.fromURL(ctx, src.URL, src.SHA256)
	case src.Image != "":
		source = "image"
		m, err = f.fromImage(ctx, wc)
	default:
		return nil, permanent(ReasonNoSource, "spec.module names no source", nil)
	}
	if err == nil {
		if err = f.verify(m, src.SHA256); err != nil {
			m.Release()
		}
	}
	if err != nil {
		klog.V(2).InfoS("Fetching a module failed", "wasmController", klog.KObj(wc), "source", source,
			"reason", ReasonOf(err), "err", detail(err))
		f.cfg.Metrics.fetched(source, ReasonOf(err))
		return nil, err
	}
	result := "fetched"
	if m.fromStore {
		result = "store"
	}
	f.cfg.Metrics.fetched(source, result)
	return m, nil
}

// serviceAccount returns the client that acts as wc's ServiceAccount, and
// the ServiceAccount's user name for messages.
func (f *Fetcher) serviceAccount(wc *v1alpha1.WasmController, what string) (kubernetes.Interface, string, error) {
	if f.cfg.ClientFor == nil {
		return nil, "", permanent(ReasonNoTargetCluster, what+" needs a target cluster (--kubeconfig)", nil)
	}
	sa := wc.Spec.ServiceAccountName
	if sa == "" {
		sa = v1alpha1.DefaultServiceAccountName
	}
	user := serviceaccount.MakeUsername(wc.Namespace, sa)
	client, err := f.cfg.ClientFor(wc.Namespace, sa)
	if err != nil {
		return nil, "", transient(ReasonFetchFailed, fmt.Sprintf("%s: no client acting as %s", what, user), err)
	}
	return client, user, nil
}
