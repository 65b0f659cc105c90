package runtime

import (
	"testing"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// argvAt is where argvModule's initialization writes the guest's
// arguments.
const argvAt = 4096

// argvModule is a raw-ABI guest whose _initialize copies its arguments
// (args_get) into its memory at argvAt, as a Go guest's runtime does;
// shared adds the wasm_apiserver_shared_init marker.
func argvModule(shared bool) testModule {
	tm := driverModule()
	n := uint32(len(tm.imports))
	tm.addImport(testImport{module: "wasi_snapshot_preview1", name: "args_sizes_get", params: []byte{i32, i32}, results: []byte{i32}})
	tm.addImport(testImport{module: "wasi_snapshot_preview1", name: "args_get", params: []byte{i32, i32}, results: []byte{i32}})
	defined := n + 2 + uint32(len(tm.funcs))
	body := []byte{
		0x41, 0, 0x41, 4, 0x10, byte(n), 0x1a, // args_sizes_get(0, 4); drop
		0x41, 8, 0x41, 0x80, 0x20, 0x10, byte(n + 1), 0x1a, // args_get(8, argvAt); drop
	}
	tm.funcs = append(tm.funcs, testFunc{body: body})
	tm.exports = append(tm.exports, testExport{name: "_initialize", index: defined})
	if shared {
		tm.funcs = append(tm.funcs, testFunc{})
		tm.exports = append(tm.exports, testExport{name: abi.SharedInitExport, index: defined + 1})
	}
	return tm
}

// TestTemplate_SharedInit checks whom a module's template serves: a module
// that does not export wasm_apiserver_shared_init reads its name at init,
// so each controller keeps a template of its own; one that does gets
// abi.SharedInitArg instead, and its controllers in one namespace start
// from one template, never from another namespace's.
func TestTemplate_SharedInit(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := "name"
		if shared {
			name = "shared"
		}
		t.Run(name, func(t *testing.T) {
			r := newTemplateTestRuntime(t, DefaultTemplateBudgetBytes)
			m := loadTest(t, r, argvModule(shared))
			start := func(tenant, name string) (fromTemplate bool, arg string) {
				t.Helper()
				inst, err := m.Instantiate(t.Context(), InstanceConfig{Name: tenant + "/" + name, Tenant: tenant, MemoryLimit: 16 << 20})
				if err != nil {
					t.Fatal(err)
				}
				defer inst.Close(t.Context())
				b, ok := inst.module.Memory().Read(argvAt, 64)
				if !ok {
					t.Fatal("reading the argument")
				}
				for i, c := range b {
					if c == 0 {
						b = b[:i]
						break
					}
				}
				return inst.FromTemplate(), string(b)
			}
			tests := []struct {
				tenant, name string
				fromTemplate bool
			}{
				{tenant: "ns1", name: "a"},
				{tenant: "ns1", name: "a", fromTemplate: true},
				{tenant: "ns1", name: "b", fromTemplate: shared},
				{tenant: "ns2", name: "a"},
				{tenant: "ns2", name: "c", fromTemplate: shared},
				// No tenant: whom the instance runs for is unknown, so it
				// shares with no other controller.
				{tenant: "", name: "d"},
				{tenant: "", name: "e"},
				{tenant: "", name: "d", fromTemplate: true},
			}
			for _, tc := range tests {
				fromTemplate, arg := start(tc.tenant, tc.name)
				want := tc.tenant + "/" + tc.name
				if shared {
					want = abi.SharedInitArg
				}
				if arg != want {
					t.Errorf("%s/%s: the guest's argument is %q, want %q", tc.tenant, tc.name, arg, want)
				}
				if fromTemplate != tc.fromTemplate {
					t.Errorf("%s/%s: started from a template: %v, want %v", tc.tenant, tc.name, fromTemplate, tc.fromTemplate)
				}
			}
		})
	}
}
