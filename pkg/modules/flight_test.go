package modules

import (
	"bytes"
	"sync"
	"testing"

	"k8s.io/component-base/metrics/testutil"

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
	f := NewFetcher(FetcherConfig{Store: store})
	before := reg.BlobGets.Load()
	counter := func(result string) float64 {
		v, err := testutil.GetCounterMetricValue(moduleFetches.WithLabelValues("image", result))
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
