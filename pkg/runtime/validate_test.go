package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// loadRefusals are edits of the driver module that make it a module that
// can never run, and what Load must say about each.
var loadRefusals = []struct {
	name    string
	edit    func(*testModule)
	wantErr string
}{
	{name: "reconcile of another signature", edit: func(m *testModule) { m.funcs[1].params = []byte{i64} },
		wantErr: "module exports reconcile as (i64) -> i32; docs/abi.md specifies (i32) -> i32"},
	{name: "marker with parameters", edit: func(m *testModule) { m.funcs[0].params = []byte{i32}; m.funcs[0].body = nil },
		wantErr: "exports wasm_apiserver_abi_v1 as (i32) -> ()"},
	{name: "_initialize with a result", edit: func(m *testModule) {
		m.funcs = append(m.funcs, testFunc{results: []byte{i32}, body: []byte{0x41, 0}})
		m.exports = append(m.exports, testExport{name: "_initialize", index: uint32(len(m.imports) + 2)})
	}, wantErr: "exports _initialize as () -> i32"},
	{name: "select_reconciler of another signature", edit: func(m *testModule) {
		m.funcs = append(m.funcs, testFunc{params: []byte{i32}, body: nil})
		m.exports = append(m.exports, testExport{name: "select_reconciler", index: uint32(len(m.imports) + 2)})
	}, wantErr: "module exports select_reconciler as (i32) -> (); docs/abi.md specifies (i32) -> i32"},
	{name: "compact with a parameter", edit: func(m *testModule) {
		m.funcs = append(m.funcs, testFunc{params: []byte{i32}, body: nil})
		m.exports = append(m.exports, testExport{name: "compact", index: uint32(len(m.imports) + 2)})
	}, wantErr: "module exports compact as (i32) -> (); docs/abi.md specifies () -> ()"},
	{name: "no memory", edit: func(m *testModule) { m.exports[0].name = "mem" },
		wantErr: `exports no memory named "memory"`},
	{name: "unknown host function", edit: func(m *testModule) { m.imports[0].name = "input_peek" },
		wantErr: "imports function wasm_apiserver.input_peek, which the host does not provide"},
	{name: "host function of another signature", edit: func(m *testModule) {
		m.addImport(testImport{module: "wasm_apiserver", name: "log", params: []byte{i32, i32, i32}, results: []byte{i32}})
	},
		wantErr: "imports function wasm_apiserver.log as (i32, i32, i32) -> i32; the host's is (i32, i32, i32) -> ()"},
	{name: "WASI function of another signature", edit: func(m *testModule) {
		m.addImport(testImport{module: "wasi_snapshot_preview1", name: "fd_write", params: []byte{i32}})
	}, wantErr: "imports function wasi_snapshot_preview1.fd_write as (i32) -> ()"},
	{name: "unknown WASI function", edit: func(m *testModule) {
		m.addImport(testImport{module: "wasi_snapshot_preview1", name: "sock_connect"})
	}, wantErr: "wasi_snapshot_preview1.sock_connect, which the host does not provide"},
	{name: "unknown import module", edit: func(m *testModule) { m.addImport(testImport{module: "env", name: "abort"}) },
		wantErr: "imports function env.abort: the host provides only the modules"},
	{name: "the reserved interrupt module", edit: func(m *testModule) {
		m.addImport(testImport{module: interruptModule, name: interruptField})
	}, wantErr: "the import module wasm_apiserver_interrupt is reserved"},
	{name: "an imported memory", edit: func(m *testModule) {
		m.addImport(testImport{module: "env", name: "memory", kind: 2, raw: []byte{0, 1}})
	}, wantErr: "imports memory env.memory: the host provides only functions"},
	{name: "an imported global", edit: func(m *testModule) {
		m.addImport(testImport{module: "wasm_apiserver", name: "g", kind: externGlobal, raw: []byte{i32, 0}})
	}, wantErr: "imports global wasm_apiserver.g: the host provides only functions"},
}

func TestRuntime_LoadRefusesModulesThatCannotRun(t *testing.T) {
	r, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	for _, tt := range loadRefusals {
		t.Run(tt.name, func(t *testing.T) {
			m := driverModule()
			tt.edit(&m)
			_, err := r.Load(t.Context(), m.encode())
			var abiErr *ABIError
			if !errors.As(err, &abiErr) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want an *ABIError containing %q", err, tt.wantErr)
			}
		})
	}
	if r.LoadedModules() != 0 {
		t.Errorf("refused modules stay loaded: %d", r.LoadedModules())
	}
}

func TestRuntime_LoadBoundsCode(t *testing.T) {
	wasm := driverModule().encode()
	tests := []struct {
		name                           string
		maxCodeBytes, maxFunctionBytes int64
		wantErr                        string
	}{
		{name: "under the limits", maxCodeBytes: 1 << 10, maxFunctionBytes: 1 << 10},
		{name: "no limits", maxCodeBytes: -1, maxFunctionBytes: -1},
		{name: "the defaults"},
		{name: "over the code limit", maxCodeBytes: 16, wantErr: "bytes of code, over the limit of 16 bytes"},
		{name: "a function over its limit", maxFunctionBytes: 16,
			wantErr: "module has a function of 178 bytes of code (body 1 of the code section), over the limit of 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(t.Context(), Config{MaxCodeBytes: tt.maxCodeBytes, MaxFunctionBytes: tt.maxFunctionBytes})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = r.Close(context.Background()) }()
			_, err = r.Load(t.Context(), wasm)
			var abiErr *ABIError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.wantErr != "" && (!errors.As(err, &abiErr) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Load error = %v, want an *ABIError containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestModule_MinimumMemoryOverTheLimit(t *testing.T) {
	r, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	d := driverModule()
	d.memPages = 40 // 2.5 MiB
	m, err := r.Load(t.Context(), d.encode())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(context.Background())
	if m.MinMemoryBytes != 40<<16 {
		t.Errorf("MinMemoryBytes = %d, want %d", m.MinMemoryBytes, 40<<16)
	}
	for _, limit := range []uint64{0, 1 << 20, 40<<16 - 1} {
		var mle *MemoryLimitError
		if err := m.CheckMemoryLimit(limit); !errors.As(err, &mle) || mle.LimitBytes != limit || mle.MinBytes != 40<<16 {
			t.Errorf("CheckMemoryLimit(%d) = %v, want a *MemoryLimitError", limit, err)
		}
		_, err := m.Instantiate(t.Context(), InstanceConfig{MemoryLimit: limit, Logger: logr.Discard()})
		if !errors.As(err, &mle) || !errors.Is(err, ErrMemoryLimit) {
			t.Errorf("Instantiate with limit %d = %v, want a *MemoryLimitError", limit, err)
		}
	}
	if err := m.CheckMemoryLimit(40 << 16); err != nil {
		t.Errorf("CheckMemoryLimit(minimum) = %v", err)
	}
	inst, err := m.Instantiate(t.Context(), InstanceConfig{MemoryLimit: 40 << 16, Logger: logr.Discard()})
	if err != nil {
		t.Fatalf("Instantiate at the minimum: %v", err)
	}
	inst.Close(t.Context())
}

func TestGuard_TurnsPanicsIntoInvalidModules(t *testing.T) {
	err := guard("compiling", func() error { panic("index out of range [5] with length 1") })
	var abiErr *ABIError
	if !errors.As(err, &abiErr) || !strings.Contains(err.Error(), "invalid module: compiling failed: index out of range") {
		t.Fatalf("guard = %v, want an *ABIError", err)
	}
}

func TestGuardSnapshot_TurnsPanicsIntoInvalidSnapshots(t *testing.T) {
	err := guardSnapshot(func() error { panic("slice bounds out of range") })
	if !errors.Is(err, ErrSnapshotInvalid) || !strings.Contains(err.Error(), "slice bounds out of range") {
		t.Fatalf("guardSnapshot = %v, want ErrSnapshotInvalid", err)
	}
}

// TestFuzzLoadSeeds runs FuzzLoad's small seeds quickly, under the race
// detector too: none may panic.
func TestFuzzLoadSeeds(t *testing.T) {
	r, err := New(t.Context(), Config{MaxCodeBytes: fuzzMaxCodeBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	for _, seed := range loadSeeds() {
		m, err := r.Load(t.Context(), seed)
		if err != nil {
			continue
		}
		inst, err := m.Instantiate(t.Context(), InstanceConfig{MemoryLimit: 1 << 20, InitTimeout: time.Second, Logger: logr.Discard()})
		if err == nil {
			inst.Close(t.Context())
		}
		m.Release(t.Context())
	}
}
