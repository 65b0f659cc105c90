package runtime

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasm-apiserver/wasm-apiserver/test/guesttest"
)

// vec encodes a WebAssembly vector section: count, then the entries.
func vec(id byte, count uint32, entries ...[]byte) []byte {
	content := binary.AppendUvarint(nil, uint64(count))
	for _, e := range entries {
		content = append(content, e...)
	}
	return append(append([]byte{id}, binary.AppendUvarint(nil, uint64(len(content)))...), content...)
}

func name(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s))), s...) }

// globalsModule builds a module with the given import entries (count n),
// three globals (mutable i32 = 7, immutable i64, mutable f64) and one
// export of the given name.
func globalsModule(imports [][]byte, export string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	if len(imports) > 0 {
		b = append(b, vec(1, 1, []byte{0x60, 0, 0})...) // type section: () -> ()
		b = append(b, vec(sectionImport, uint32(len(imports)), imports...)...)
	}
	b = append(b, vec(sectionGlobal, 3,
		[]byte{valueI32, 1, 0x41, 7, 0x0b},
		[]byte{valueI64, 0, 0x42, 0x80, 0x01, 0x0b},
		[]byte{valueF64, 1, 0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x0b},
	)...)
	return append(b, vec(sectionExport, 1, append(name(export), externGlobal, 1))...)
}

func TestExportMutableGlobals(t *testing.T) {
	funcImport := append(append(name("env"), name("f")...), 0, 0)
	globalImport := append(append(name("env"), name("g")...), externGlobal, valueI32, 1)
	tests := []struct {
		name        string
		wasm        []byte
		want        []mutableGlobal
		wantABIErr  bool
		wantNoSnaps bool
		// instantiate the rewritten module (one without imports) and use
		// the exports.
		instantiate bool
	}{
		{name: "mutable globals exported", wasm: globalsModule(nil, "answer"), instantiate: true,
			want: []mutableGlobal{{index: 0, valueType: valueI32}, {index: 2, valueType: valueF64}}},
		{name: "with imported functions", wasm: globalsModule([][]byte{funcImport}, "answer"),
			want: []mutableGlobal{{index: 0, valueType: valueI32}, {index: 2, valueType: valueF64}}},
		{name: "imported global", wasm: globalsModule([][]byte{globalImport}, "answer"), wantNoSnaps: true},
		{name: "reserved export name", wasm: globalsModule(nil, GlobalExportPrefix+"9"), wantABIErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sections, err := splitSections(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			got, err := exportMutableGlobals(sections)
			var abiErr *ABIError
			switch {
			case tt.wantABIErr:
				if !errors.As(err, &abiErr) {
					t.Fatalf("error = %v, want an ABIError", err)
				}
				return
			case tt.wantNoSnaps:
				if err == nil || errors.As(err, &abiErr) {
					t.Fatalf("error = %v, want a reason snapshots are impossible", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(mutableGlobal{})); diff != "" {
				t.Errorf("globals (-want +got):\n%s", diff)
			}
			if !tt.instantiate {
				return
			}
			ctx := t.Context()
			r := wazero.NewRuntime(ctx)
			defer r.Close(ctx)
			mod, err := r.Instantiate(ctx, joinSections(tt.wasm[:8], sections))
			if err != nil {
				t.Fatalf("rewritten module: %v", err)
			}
			g, ok := mod.ExportedGlobal(GlobalExportPrefix + "0").(api.MutableGlobal)
			if !ok || g.Get() != 7 {
				t.Fatalf("exported global 0 = %v, want a mutable global of 7", g)
			}
			g.Set(8)
			if mod.ExportedGlobal(GlobalExportPrefix+"1") != nil || mod.ExportedGlobal("answer") == nil {
				t.Errorf("immutable global exported, or the module's own export lost")
			}
		})
	}
}

// TestRewrite_GoGuest checks that every mutable global of a real Go guest
// is exported, and that the rewritten module compiles.
func TestRewrite_GoGuest(t *testing.T) {
	wasm := guesttest.Build(t, "echo")
	m := &Module{}
	code, err := m.rewrite(wasm, true, true)
	if err != nil || m.snapshotErr != nil {
		t.Fatalf("rewrite: %v, snapshots: %v", err, m.snapshotErr)
	}
	if len(m.globals) == 0 || m.cost == 0 {
		t.Fatalf("globals %d, cost %d: want some", len(m.globals), m.cost)
	}
	ctx := t.Context()
	// The compilation cache the package's tests share: Load compiles the
	// same bytes for the echo guest.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(SharedCache(Config{}).cache))
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	defer compiled.Close(ctx)
	t.Logf("%d mutable globals exported", len(m.globals))
}

// FuzzRewrite feeds arbitrary module bytes to the rewrite Load does. It
// must never panic, and what it exports a second time is refused as
// reserved.
func FuzzRewrite(f *testing.F) {
	f.Add(globalsModule(nil, "answer"))
	f.Add(globalsModule([][]byte{append(append(name("env"), name("f")...), 0, 0)}, "answer"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m := &Module{}
		out, err := m.rewrite(wasm, true, true)
		if err != nil || len(m.globals) == 0 {
			return
		}
		if _, err := (&Module{}).rewrite(out, true, true); err == nil {
			t.Errorf("rewriting a rewritten module with %d globals exported: no error", len(m.globals))
		}
	})
}
