package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-apiserver/wasm-apiserver/pkg/wasmmodule"
	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// compileNew checks, rewrites and compiles the bytes of a module not
// loaded yet. Every failure is an *ABIError but for failures of the
// server's storage (a *StorageError: the compilation cache, keeping the
// bytes in the cache dir); a panic anywhere in the parsing or compiling of
// the bytes is an *ABIError too.
func (r *Runtime) compileNew(ctx context.Context, digest string, wasm []byte) (*Module, wazero.CompiledModule, error) {
	if err := wasmmodule.CheckHeader(wasm); err != nil {
		return nil, nil, &ABIError{Reason: err.Error()}
	}
	m := &Module{runtime: r, Digest: digest, Size: len(wasm), refs: 1}
	var code []byte
	err := guard("checking sections", func() error { return r.checkSections(wasm) })
	if err == nil {
		err = guard("rewriting", func() error {
			var err error
			code, err = m.rewrite(wasm, !r.keepDataSegments, r.interruptible)
			return err
		})
	}
	if err != nil {
		return nil, nil, err
	}
	compiled, init, err := r.compileKept(ctx, code)
	if err == nil {
		m.init = init
		err = guard("checking exports and imports", func() error {
			if err := checkABI(compiled); err != nil {
				return err
			}
			if err := r.provided.checkImportSignatures(compiled); err != nil {
				return err
			}
			m.MinMemoryBytes = uint64(compiled.ExportedMemories()["memory"].Min()) * wasmPage
			_, m.selects = compiled.ExportedFunctions()[abi.SelectReconcilerExport]
			_, m.sharedInit = compiled.ExportedFunctions()[abi.SharedInitExport]
			if err := m.keepCode(code); err != nil {
				return err
			}
			m.placeData(init, code)
			return nil
		})
	}
	if err != nil {
		if compiled != nil {
			closeCompiled(context.WithoutCancel(ctx), compiled)
		}
		freeAfterFailedCompile(len(code)) // nil code: nothing was compiled
		return nil, nil, err
	}
	return m, compiled, nil
}

// checkSections refuses, before anything is rewritten or compiled, a code
// section over Config.MaxCodeBytes (the whole module when its sections do
// not split), a function over Config.MaxFunctionBytes, and imports the
// host does not provide.
func (r *Runtime) checkSections(wasm []byte) error {
	limit := bound(r.cfg.MaxCodeBytes, DefaultMaxCodeBytes)
	sections, err := splitSections(wasm)
	if err != nil {
		if limit >= 0 && int64(len(wasm)) > limit {
			return codeTooLarge(len(wasm), limit)
		}
		return nil // the rewrite or the compiler says why
	}
	for _, s := range sections {
		if s.id != sectionCode {
			continue
		}
		if limit >= 0 && int64(len(s.content)) > limit {
			return codeTooLarge(len(s.content), limit)
		}
		if err := checkFunctionSizes(s.content, bound(r.cfg.MaxFunctionBytes, DefaultMaxFunctionBytes)); err != nil {
			return err
		}
	}
	return r.provided.checkImportNames(sections)
}

// checkFunctionSizes refuses a code section with a function body over
// limit bytes (none when limit is negative). A section it cannot read is
// left to the compiler to refuse.
func checkFunctionSizes(code []byte, limit int64) error {
	if limit < 0 {
		return nil
	}
	count, n := readU32(code)
	r := code[n:]
	for i := range count {
		size, n := readU32(r)
		if n == 0 || uint64(len(r)) < uint64(n)+uint64(size) {
			return nil
		}
		if int64(size) > limit {
			return &ABIError{Reason: fmt.Sprintf("module has a function of %d bytes of code (body %d of the code section), over the limit of %d bytes this server compiles in one function", size, i, limit)}
		}
		r = r[n+int(size):]
	}
	return nil
}

// rewrite returns the bytes to compile for wasm: data segments merged (when
// merge is set), loops made interruptible (when interrupt is set) and
// mutable globals exported. It records the globals and estimated cost on m.
// A module whose sections it cannot split is returned unchanged, for the
// compiler to refuse, unless it must be made interruptible.
func (m *Module) rewrite(wasm []byte, merge, interrupt bool) ([]byte, error) {
	sections, err := splitSections(wasm)
	if err != nil {
		if interrupt {
			return nil, &ABIError{Reason: "compilation failed: " + err.Error()}
		}
		m.snapshotErr = err
		m.cost = compiledCostPerCodeByte(len(wasm))
		return wasm, nil
	}
	for _, s := range sections {
		if s.id == sectionCode {
			m.cost = compiledCostPerCodeByte(len(s.content))
		}
	}
	if merge {
		_ = mergeDataSection(sections) // unchanged when it cannot merge
	}
	m.image = newMemoryImage(sections)
	if interrupt {
		if sections, err = injectInterruptChecks(sections); err != nil {
			return nil, &ABIError{Reason: "cannot make the module's loops interruptible: " + err.Error()}
		}
	}
	globals, err := exportMutableGlobals(sections)
	var abiErr *ABIError
	switch {
	case errors.As(err, &abiErr):
		return nil, err
	case err != nil:
		m.snapshotErr = err
	default:
		m.globals = globals
	}
	return joinSections(wasm[:8], sections), nil
}

// compileKept compiles a module's kept bytes, without the data segments
// the runtime writes itself when it can (stripData), which it returns.
func (r *Runtime) compileKept(ctx context.Context, code []byte) (wazero.CompiledModule, *dataInit, error) {
	var init *dataInit
	if err := guard("separating data segments", func() error {
		code, init = stripData(code)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	compiled, err := r.compileCode(ctx, code)
	if err != nil {
		return nil, nil, err
	}
	return compiled, init, nil
}

func codeTooLarge(size int, limit int64) error {
	return &ABIError{Reason: fmt.Sprintf("module has %d bytes of code, over the limit of %d bytes this server compiles", size, limit)}
}
