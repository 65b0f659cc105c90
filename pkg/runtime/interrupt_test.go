package runtime

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// body encodes a function body: no locals or the given local groups, then
// code.
func body(locals []byte, code ...byte) []byte {
	if locals == nil {
		locals = []byte{0}
	}
	b := append(append([]byte(nil), locals...), code...)
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// callsModule is a module that uses every kind of function index the
// injection moves: an imported function (env.double), a loop, a direct
// call, a call through a table filled by an element segment, exports and
// function names.
//
//	sum(n)     = double(n + (n-1) + … + 1), in a loop
//	seven()    = 7
//	viaTable() = table[0]() + seven() = 14
func callsModule() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, vec(sectionType, 2, []byte{0x60, 1, valueI32, 1, valueI32}, []byte{0x60, 0, 1, valueI32})...)
	b = append(b, vec(sectionImport, 1, append(append(name("env"), name("double")...), 0, 0))...)
	b = append(b, vec(sectionFunction, 3, []byte{0}, []byte{1}, []byte{1})...)
	b = append(b, vec(4, 1, []byte{0x70, 0x00, 0x01})...) // table: funcref, min 1
	b = append(b, vec(sectionExport, 2, append(name("sum"), 0, 1), append(name("viaTable"), 0, 3))...)
	b = append(b, vec(sectionElement, 1, []byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x02})...) // table[0] = seven
	b = append(b, vec(sectionCode, 3,
		body([]byte{1, 1, valueI32},
			0x03, 0x40, // loop
			0x20, 1, 0x20, 0, 0x6a, 0x21, 1, // acc += n
			0x20, 0, 0x41, 1, 0x6b, 0x22, 0, // n--
			0x0d, 0, // br_if 0
			0x0b,
			0x20, 1, 0x10, 0, // double(acc)
			0x0b),
		body(nil, 0x41, 7, 0x0b),
		body(nil, 0x41, 0, 0x11, 1, 0, 0x10, 2, 0x6a, 0x0b),
	)...)
	names := append(name("name"), 1)
	fnames := binary.AppendUvarint(nil, 3)
	for i, n := range []string{"sum", "seven", "viaTable"} {
		fnames = append(append(fnames, byte(i+1)), name(n)...)
	}
	names = append(append(names, binary.AppendUvarint(nil, uint64(len(fnames)))...), fnames...)
	return append(append(b, 0), append(binary.AppendUvarint(nil, uint64(len(names))), names...)...)
}

// instantiateCalls compiles wasm, as rewritten when interrupt is set, and
// instantiates it with env.double and the interrupt check.
func instantiateCalls(t *testing.T, interrupt bool) (api.Module, wazero.CompiledModule) {
	t.Helper()
	ctx := context.Background()
	wasm := callsModule()
	if interrupt {
		sections, err := splitSections(wasm)
		if err != nil {
			t.Fatal(err)
		}
		if sections, err = injectInterruptChecks(sections); err != nil {
			t.Fatal(err)
		}
		wasm = joinSections(wasm[:8], sections)
	}
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = r.Close(ctx) })
	if _, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(x uint32) uint32 { return 2 * x }).Export("double").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := instantiateInterruptModule(ctx, r); err != nil {
		t.Fatal(err)
	}
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	return mod, compiled
}

func TestInjectInterruptChecks_KeepsWhatCodeDoes(t *testing.T) {
	plain, _ := instantiateCalls(t, false)
	mod, compiled := instantiateCalls(t, true)
	for _, tc := range []struct {
		export string
		args   []uint64
	}{
		{"sum", []uint64{10}},
		// More iterations than interruptEvery: the check runs and the
		// count is refilled.
		{"sum", []uint64{5 * interruptEvery}},
		{"viaTable", nil},
	} {
		want, err := plain.ExportedFunction(tc.export).Call(t.Context(), tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := mod.ExportedFunction(tc.export).Call(t.Context(), tc.args...)
		if err != nil || len(got) != 1 || got[0] != want[0] {
			t.Errorf("%s%v = %v, %v; want %v as without the checks", tc.export, tc.args, got, err, want)
		}
	}
	if got, _ := mod.ExportedFunction("viaTable").Call(t.Context()); len(got) != 1 || got[0] != 14 {
		t.Errorf("viaTable() = %v, want 14", got)
	}
	// The names follow the functions they name.
	for export, want := range map[string]string{"sum": "sum", "viaTable": "viaTable"} {
		if got := compiled.ExportedFunctions()[export].Name(); got != want {
			t.Errorf("export %s is named %q, want %q", export, got, want)
		}
	}
}

func TestInjectInterruptChecks_StopsWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// Without the checks a loop runs to its end whatever the context.
	plain, _ := instantiateCalls(t, false)
	if _, err := plain.ExportedFunction("sum").Call(ctx, 1<<22); err != nil {
		t.Fatalf("without the checks: %v, want the loop to finish", err)
	}
	mod, _ := instantiateCalls(t, true)
	_, err := mod.ExportedFunction("sum").Call(ctx, 1<<30)
	var exit *sys.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != sys.ExitCodeContextCanceled {
		t.Fatalf("sum with a canceled context = %v, want an exit with ExitCodeContextCanceled", err)
	}
	if !mod.IsClosed() {
		t.Errorf("module still open after the interrupt")
	}
}

func TestInjectInterruptChecks_Refuses(t *testing.T) {
	withBody := func(code ...byte) []byte {
		b := []byte("\x00asm\x01\x00\x00\x00")
		b = append(b, vec(sectionType, 1, []byte{0x60, 0, 0})...)
		b = append(b, vec(sectionFunction, 1, []byte{0})...)
		return append(b, vec(sectionCode, 1, body(nil, code...))...)
	}
	tests := []struct {
		name        string
		wasm        []byte
		unsupported bool
	}{
		{"try of the legacy exception proposal", withBody(0x06, 0x40, 0x0b, 0x0b), true},
		{"unknown 0xfc instruction", withBody(0xfc, 0x7f, 0x0b), true},
		{"truncated immediate", withBody(0x41, 0x80), false},
		{"body without end", withBody(0x01), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sections, err := splitSections(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			before := joinSections(tt.wasm[:8], sections)
			_, err = injectInterruptChecks(sections)
			if err == nil || errors.Is(err, errUnsupported) != tt.unsupported {
				t.Fatalf("err = %v, want unsupported %v", err, tt.unsupported)
			}
			if after := joinSections(tt.wasm[:8], sections); string(after) != string(before) {
				t.Errorf("a refused module's sections changed")
			}
		})
	}
}

// FuzzInjectInterruptChecks feeds arbitrary modules to the rewrite: it must
// never panic, and a module wazero compiles must still compile once
// rewritten.
func FuzzInjectInterruptChecks(f *testing.F) {
	f.Add(callsModule())
	f.Add(globalsModule(nil, "answer"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		sections, err := splitSections(wasm)
		if err != nil {
			return
		}
		out, err := injectInterruptChecks(sections)
		if err != nil {
			return
		}
		ctx := context.Background()
		r := wazero.NewRuntime(ctx)
		defer r.Close(ctx)
		c, err := r.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		_ = c.Close(ctx)
		if _, err := r.CompileModule(ctx, joinSections(wasm[:8], out)); err != nil {
			t.Errorf("the module compiles, its rewrite does not: %v", err)
		}
	})
}
