package modules

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Timeouts of each step before a body arrives, for URLs and registries
// alike. They are short: a module server or registry answers at once, and
// the host's loaders are few; the fetch as a whole is bounded by
// FetcherConfig.Timeout.
const (
	dialTimeout           = 5 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 10 * time.Second
)

// errLocalAddress refuses a connection to a loopback, link-local or
// unspecified address.
var errLocalAddress = errors.New("refusing to connect to a loopback, link-local or unspecified address")

// newHTTPClient returns the client for url sources: HTTPS only, with
// timeouts on every step before the body, and, unless allowLocal, no
// connection to the server's own node or to link-local services (the
// cloud's metadata service), whatever name or redirect leads there.
func newHTTPClient(allowLocal bool) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if !allowLocal {
		dialer.Control = refuseLocalAddress
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   tlsHandshakeTimeout,
			ResponseHeaderTimeout: responseHeaderTimeout,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: redirectPolicy(allowLocal),
	}
}

// newRegistryTransport returns the transport for registries: that of
// net/http, with the short timeouts of url sources. Unless allowLocal, it
// connects to no loopback, link-local or unspecified address, whatever
// name, DNS answer or redirect (registries send blob downloads elsewhere)
// leads there: a tenant's image reference must not reach the server's own
// node or the cloud's metadata service. With allowLocal, for the registries
// an administrator named, only link-local addresses are refused: no
// registry lives there.
func newRegistryTransport(allowLocal bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	control := refuseLocalAddress
	if allowLocal {
		control = refuseLinkLocalAddress
	}
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: control}).DialContext
	t.TLSHandshakeTimeout = tlsHandshakeTimeout
	t.ResponseHeaderTimeout = responseHeaderTimeout
	return t
}

// refuseLocalAddress is a net.Dialer Control that refuses local addresses,
// checked once the name is resolved, so that no DNS answer gets round it.
func refuseLocalAddress(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errLocalAddress, address)
	}
	if isLocalAddr(ap.Addr()) {
		return errLocalAddress
	}
	return nil
}

// refuseLinkLocalAddress is a net.Dialer Control that refuses link-local
// and unspecified addresses.
func refuseLinkLocalAddress(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errLocalAddress, address)
	}
	if a := ap.Addr().Unmap(); a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() {
		return errLocalAddress
	}
	return nil
}

func isLocalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified()
}

// isLocalHost says whether a URL's host (without port) is, by its very
// name, local: "localhost" or a local address literal.
func isLocalHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && isLocalAddr(a)
}

// redirectPolicy follows at most 10 redirects, to HTTPS only, and, unless
// allowLocal, not to a local host by name.
func redirectPolicy(allowLocal bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Scheme != "https" {
			return fmt.Errorf("refusing redirect to %s: only https is allowed", req.URL.Redacted())
		}
		if !allowLocal && isLocalHost(req.URL.Hostname()) {
			return fmt.Errorf("refusing redirect to %s: %w", req.URL.Redacted(), errLocalAddress)
		}
		return nil
	}
}
