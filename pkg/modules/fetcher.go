package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"
)

// DefaultMaxModuleBytes bounds one module unless the Fetcher says otherwise.
const DefaultMaxModuleBytes = 256 << 20

// DefaultFetchTimeout bounds one fetch, from the first request to the last
// byte, unless the Fetcher says otherwise.
const DefaultFetchTimeout = 5 * time.Minute

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
	// HTTPClient fetches url sources; a client with connect, TLS handshake
	// and response header timeouts when nil.
	HTTPClient *http.Client
	// RegistryTransport carries registry requests; http.DefaultTransport's
	// settings when nil.
	RegistryTransport http.RoundTripper
	// InsecureRegistries are registries ("host:port") spoken to over plain
	// HTTP. Loopback registries (localhost, 127.0.0.1) always are.
	InsecureRegistries []string
}

// Fetcher fetches the modules WasmControllers name and verifies them.
type Fetcher struct {
	cfg       FetcherConfig
	downloads downloads
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
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.RegistryTransport == nil {
		cfg.RegistryTransport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.ClientFor == nil && cfg.Cluster != nil {
		clients, err := ServiceAccountClients(cfg.Cluster)
		if err != nil {
			clients = func(string, string) (kubernetes.Interface, error) { return nil, err }
		}
		cfg.ClientFor = clients
	}
	return &Fetcher{cfg: cfg}
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
// them. ConfigMaps and image pull Secrets are read as wc's ServiceAccount.
// Release the returned Module when the controller stops.
//
// # Errors
//
// An *Error whose Reason says what failed and whose Permanent field says
// whether to wait for a spec change rather than retry.
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
		moduleFetches.WithLabelValues(source, ReasonOf(err)).Inc()
		return nil, err
	}
	result := "fetched"
	if m.fromStore {
		result = "store"
	}
	moduleFetches.WithLabelValues(source, result).Inc()
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
	user := ServiceAccountUser(wc.Namespace, sa)
	client, err := f.cfg.ClientFor(wc.Namespace, sa)
	if err != nil {
		return nil, "", transient(ReasonFetchFailed, fmt.Sprintf("%s: no client acting as %s", what, user), err)
	}
	return client, user, nil
}

// verify checks the module's size, digest and magic, and fills in Digest.
func (f *Fetcher) verify(m *Module, wantSHA256 string) error {
	if int64(len(m.Wasm)) > f.cfg.MaxModuleBytes {
		return tooLarge(int64(len(m.Wasm)), f.cfg.MaxModuleBytes)
	}
	sum := sha256.Sum256(m.Wasm)
	got := hex.EncodeToString(sum[:])
	m.Digest = "sha256:" + got
	if wantSHA256 != "" && got != wantSHA256 {
		return permanent(ReasonDigestMismatch, fmt.Sprintf(
			"module has sha256 %s, spec.module.sha256 wants %s: it will not run", got, wantSHA256), nil)
	}
	return CheckWasm(m.Wasm)
}

// CheckWasm reports, as an *Error with ReasonNotWasm, bytes that are not a
// WebAssembly core module (binary format version 1).
func CheckWasm(b []byte) error {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return permanent(ReasonNotWasm, "not a WebAssembly module: it does not start with the magic bytes \\0asm", nil)
	}
	switch version := string(b[4:8]); {
	case version == "\x01\x00\x00\x00":
		return nil
	case b[6] == 1 && b[7] == 0: // layer 1: the component model
		return permanent(ReasonNotWasm, "a WebAssembly component, not a core module: build the guest as a core module "+
			"(GOOS=wasip1 GOARCH=wasm)", nil)
	default:
		return permanent(ReasonNotWasm, fmt.Sprintf("WebAssembly binary format version %x is not supported: only version 1 is", b[4:8]), nil)
	}
}

func tooLarge(size, limit int64) *Error {
	return permanent(ReasonModuleTooLarge, fmt.Sprintf("module is %d bytes or more, larger than the limit of %d bytes", size, limit), nil)
}
