package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// newHTTPClient returns the client for url sources: HTTPS only, with
// timeouts on every step before the body.
func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: refuseInsecureRedirect,
	}
}

// refuseInsecureRedirect follows at most 10 redirects, to HTTPS only.
func refuseInsecureRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("refusing redirect to %s: only https is allowed", req.URL.Redacted())
	}
	return nil
}

// fromURL returns the module at rawURL, whose sha256 must be wantSHA256,
// from the store when it holds it.
func (f *Fetcher) fromURL(ctx context.Context, rawURL, wantSHA256 string) (*Module, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, permanent(ReasonInvalidReference, fmt.Sprintf("spec.module.url %q must be an https:// URL", rawURL), err)
	}
	if wantSHA256 == "" {
		return nil, permanent(ReasonInvalidReference, "spec.module.url needs spec.module.sha256: a module from a URL runs only verified", nil)
	}
	digest := "sha256:" + wantSHA256
	defer f.downloads.lock(digest)()
	if wasm, lease, err := f.cfg.Store.Acquire(digest); err == nil {
		return &Module{Wasm: wasm, lease: lease, fromStore: true}, nil
	}

	where := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, permanent(ReasonInvalidReference, fmt.Sprintf("spec.module.url %q: %v", where, err), err)
	}
	req.Header.Set("Accept", "application/wasm, application/octet-stream;q=0.9, */*;q=0.1")
	client := *f.cfg.HTTPClient
	if client.CheckRedirect == nil {
		client.CheckRedirect = refuseInsecureRedirect
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, transient(ReasonFetchFailed, fmt.Sprintf("fetching module[%s]: %v", where, err), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, transient(ReasonModuleNotFound, fmt.Sprintf("fetching module[%s]: %s", where, resp.Status), nil)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, transient(ReasonUnauthorized, fmt.Sprintf("fetching module[%s]: %s", where, resp.Status), nil)
	case resp.StatusCode != http.StatusOK:
		return nil, transient(ReasonFetchFailed, fmt.Sprintf("fetching module[%s]: %s", where, resp.Status), nil)
	}
	limit := f.cfg.MaxModuleBytes
	if resp.ContentLength > limit {
		return nil, tooLarge(resp.ContentLength, limit)
	}
	h := sha256.New()
	wasm, err := io.ReadAll(io.TeeReader(io.LimitReader(resp.Body, limit+1), h))
	if err != nil {
		return nil, transient(ReasonFetchFailed, fmt.Sprintf("fetching module[%s]: %v", where, err), err)
	}
	if int64(len(wasm)) > limit {
		return nil, tooLarge(int64(len(wasm)), limit)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 {
		return nil, permanent(ReasonDigestMismatch, fmt.Sprintf(
			"module at %s has sha256 %s, spec.module.sha256 wants %s: it will not run", where, got, wantSHA256), nil)
	}
	if err := CheckWasm(wasm); err != nil {
		return nil, err
	}
	lease, err := f.cfg.Store.Add(wasm)
	if err != nil {
		return nil, transient(ReasonStoreFailed, err.Error(), err)
	}
	return &Module{Wasm: wasm, lease: lease}, nil
}
