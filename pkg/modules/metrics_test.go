package modules

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
)

// TestStoreCollector: each store reports what it holds on the registry it
// was registered on, and only there.
func TestStoreCollector(t *testing.T) {
	full, empty := openTestStore(t), openTestStore(t)
	wasm := wasmModule("counted")
	lease, err := full.Add(wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	tests := []struct {
		name           string
		store          *Store
		bytes, modules int
	}{
		{name: "holding a module", store: full, bytes: len(wasm), modules: 1},
		{name: "empty", store: empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := metrics.NewKubeRegistry()
			if err := reg.CustomRegister(tt.store.Collector()); err != nil {
				t.Fatal(err)
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP wasm_apiserver_module_store_bytes [ALPHA] Bytes of modules held in the module store.
# TYPE wasm_apiserver_module_store_bytes gauge
wasm_apiserver_module_store_bytes %d
# HELP wasm_apiserver_module_store_modules [ALPHA] Modules held in the module store.
# TYPE wasm_apiserver_module_store_modules gauge
wasm_apiserver_module_store_modules %d
`, tt.bytes, tt.modules))); err != nil {
				t.Error(err)
			}
		})
	}
}

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
