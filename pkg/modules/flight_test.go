package modules

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/apis/controllers/v1alpha1"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/modules/modulestest"
)

// TestFetch_ConcurrentPullsDownloadOnce starts controllers of one image at
// once: the module is downloaded once and each gets its own lease.
func TestFetch_ConcurrentPullsDownloadOnce(t *testing.T) {
	reg := modulestest.NewRegistry(t)
	wasm := wasmModule("shared")
	if _, err := Push(t.Context(), wasm, modulestest.Reference(t, reg.Ref("ctl/shared:v1"))); err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(t.TempDir(), 1) // any unused module is removed at once
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(metrics.NewKubeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, AllowLocalSources: true, Metrics: m})
	before := reg.BlobGets.Load()
	counter := func(result string) float64 {
		v, err := testutil.GetCounterMetricValue(m.fetches.WithLabelValues("image", result))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	fetchedBefore, storeBefore := counter("fetched"), counter("store")
	const n = 8
	got := make([]*Module, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = f.Fetch(t.Context(), imageController(reg.Ref("ctl/shared:v1"))) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(got[i].Wasm, wasm) {
			t.Fatalf("fetch %d: %v", i, errs[i])
		}
	}
	if downloads := reg.BlobGets.Load() - before; downloads != 1 {
		t.Errorf("%d blob downloads, want 1", downloads)
	}
	if fetched, fromStore := counter("fetched")-fetchedBefore, counter("store")-storeBefore; fetched != 1 || fromStore != n-1 {
		t.Errorf("module_fetches_total: %v fetched and %v from the store, want 1 and %d", fetched, fromStore, n-1)
	}
	for i := range n - 1 {
		got[i].Release()
	}
	if _, count := store.Size(); count != 1 {
		t.Fatalf("the store removed a module still leased")
	}
	got[n-1].Release()
	if _, count := store.Size(); count != 0 {
		t.Fatalf("the store keeps an unused module past its bound")
	}
}

// TestFetch_SlowDownloadHoldsUpNoOtherFetch starts a download that hangs,
// then fetches of the same bytes from elsewhere, and of the same source
// with a shorter patience: none waits for the hanging download.
func TestFetch_SlowDownloadHoldsUpNoOtherFetch(t *testing.T) {
	wasm, image := wasmModule("contended-url"), wasmModule("contended-image")
	sha := digestOf(wasm)[len("sha256:"):]
	slowStarted := make(chan struct{}, 8)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow.wasm" {
			slowStarted <- struct{}{}
			<-r.Context().Done()
			return
		}
		_, _ = w.Write(wasm)
	}))
	t.Cleanup(srv.Close)
	slowReg, fastReg := modulestest.NewRegistry(t), modulestest.NewRegistry(t)
	for _, reg := range []*modulestest.Registry{slowReg, fastReg} {
		if _, err := Push(t.Context(), image, modulestest.Reference(t, reg.Ref("ctl/app:v1"))); err != nil {
			t.Fatal(err)
		}
	}
	slowReg.HoldBlobs(t)

	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store, HTTPClient: srv.Client(), AllowLocalSources: true, Timeout: time.Minute})
	urlController := func(path string) *v1alpha1.WasmController {
		return &v1alpha1.WasmController{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
			Spec: v1alpha1.WasmControllerSpec{Module: v1alpha1.ModuleSource{URL: srv.URL + path, SHA256: sha}}}
	}
	hanging, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _, _ = f.Fetch(hanging, urlController("/slow.wasm")) })
	wg.Go(func() { _, _ = f.Fetch(hanging, imageController(slowReg.Ref("ctl/app:v1"))) })
	<-slowStarted
	if err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return slowReg.BlobGets.Load() > 0, nil }); err != nil {
		t.Fatal("the image download did not start")
	}

	tests := []struct {
		name     string
		wc       *v1alpha1.WasmController
		patience time.Duration
		wantErr  bool
	}{
		{name: "the same sha256 from another URL", wc: urlController("/module.wasm"), patience: 5 * time.Second},
		{name: "the same module from another registry", wc: imageController(fastReg.Ref("ctl/app:v1")), patience: 5 * time.Second},
		{name: "the same URL gives up with its own context", wc: urlController("/slow.wasm"), patience: 200 * time.Millisecond, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), tt.patience)
			defer cancel()
			start := time.Now()
			m, err := f.Fetch(ctx, tt.wc)
			if took := time.Since(start); took > tt.patience+2*time.Second {
				t.Fatalf("Fetch took %v: it waited for another download", took)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Fetch error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				m.Release()
			}
		})
	}
}

func TestNewFetcher_ShortTimeouts(t *testing.T) {
	store, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFetcher(FetcherConfig{Store: store})
	if f.cfg.Timeout > time.Minute {
		t.Errorf("a fetch may take %v by default: one slow server holds a loader that long", f.cfg.Timeout)
	}
	for name, rt := range map[string]http.RoundTripper{"url": f.cfg.HTTPClient.Transport, "registry": f.cfg.RegistryTransport,
		"local registry": f.localRegistryTransport} {
		tr, ok := rt.(*http.Transport)
		if !ok {
			t.Fatalf("%s transport is a %T", name, rt)
		}
		if tr.TLSHandshakeTimeout <= 0 || tr.TLSHandshakeTimeout > 10*time.Second ||
			tr.ResponseHeaderTimeout <= 0 || tr.ResponseHeaderTimeout > 10*time.Second {
			t.Errorf("%s transport: TLS handshake timeout %v, response header timeout %v; want both set, at most 10s",
				name, tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
		}
	}
}
