package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// fromURL returns the module at rawURL, whose sha256 must be wantSHA256:
// from the store when this very URL served it before, else downloaded.
//
// Once the request is sent, every failure is one FetchFailed whose message
// says only that no module with that sha256 came from the URL: whether the
// host answered, its TLS, its status and the size or digest of what it
// served go to the log. A tenant names any URL, and the server's network
// position is not theirs to probe.
func (f *Fetcher) fromURL(ctx context.Context, rawURL, wantSHA256 string) (*Module, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, permanent(ReasonInvalidReference, "spec.module.url must be an https:// URL", err)
	}
	where := u.Redacted()
	if wantSHA256 == "" || !isHexDigest(wantSHA256) {
		return nil, permanent(ReasonInvalidReference, "spec.module.url needs spec.module.sha256 (64 lowercase hex digits): "+
			"a module from a URL runs only verified", nil)
	}
	if !f.cfg.AllowLocalSources && isLocalHost(u.Hostname()) {
		return nil, permanent(ReasonInvalidReference, fmt.Sprintf(
			"spec.module.url %s names a loopback or link-local host, which this server does not fetch from", where), nil)
	}
	digest, source := "sha256:"+wantSHA256, sourceOfURL(rawURL)
	if wasm, lease, err := f.cfg.Store.acquireFrom(source, digest); err == nil {
		return &Module{Wasm: wasm, lease: lease, fromStore: true}, nil
	}
	unlock, err := f.downloads.lock(ctx, source+"\x00"+digest)
	if err != nil {
		return nil, urlFailed(where, "waiting for another download of the URL", err)
	}
	defer unlock()
	if wasm, lease, err := f.cfg.Store.acquireFrom(source, digest); err == nil { // downloaded meanwhile
		return &Module{Wasm: wasm, lease: lease, fromStore: true}, nil
	}
	wasm, err := f.download(ctx, u, wantSHA256)
	if err != nil {
		return nil, err
	}
	if err := CheckWasm(wasm); err != nil { // the bytes the spec named: nothing to hide
		return nil, err
	}
	lease, err := f.cfg.Store.addAs(digest, wasm) // its digest was checked as it streamed
	if err != nil {
		return nil, storageFailed(err)
	}
	if err := f.cfg.Store.recordSource(source, digest); err != nil {
		lease.Release()
		return nil, storageFailed(err)
	}
	return &Module{Wasm: wasm, lease: lease}, nil
}

// download GETs u and returns its body if its sha256 is wantSHA256.
func (f *Fetcher) download(ctx context.Context, u *url.URL, wantSHA256 string) ([]byte, error) {
	where := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, permanent(ReasonInvalidReference, fmt.Sprintf("spec.module.url %s is not a valid request", where), err)
	}
	req.Header.Set("Accept", "application/wasm, application/octet-stream;q=0.9, */*;q=0.1")
	client := *f.cfg.HTTPClient
	if client.CheckRedirect == nil {
		client.CheckRedirect = redirectPolicy(f.cfg.AllowLocalSources)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, urlFailed(where, "request", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, urlFailed(where, "answered "+resp.Status, nil)
	}
	limit := f.cfg.MaxModuleBytes
	if resp.ContentLength > limit {
		return nil, urlFailed(where, fmt.Sprintf("Content-Length %d is over the limit of %d bytes", resp.ContentLength, limit), nil)
	}
	h := sha256.New()
	wasm, err := io.ReadAll(io.TeeReader(io.LimitReader(resp.Body, limit+1), h))
	if err != nil {
		return nil, urlFailed(where, "reading the body", err)
	}
	if int64(len(wasm)) > limit {
		return nil, urlFailed(where, fmt.Sprintf("body is over the limit of %d bytes", limit), nil)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 {
		return nil, urlFailed(where, fmt.Sprintf("served %d bytes with sha256 %s", len(wasm), got), nil)
	}
	return wasm, nil
}

// urlFailed is the one error a tenant sees for a URL once a request is
// made; what happened is in its log detail.
func urlFailed(where, what string, err error) *Error {
	e := transient(ReasonFetchFailed, fmt.Sprintf(
		"no module with spec.module.sha256 could be fetched from %s (the server's log says why)", where), err)
	e.detail = what
	return e
}
