package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasm-apiserver/wasm-apiserver/sdk/abi"
)

// A module is checked at load against everything that would make it fail
// later: imports the host does not provide (instantiation would fail at
// every wake), exports of the wrong signature (every call would fail), the
// reserved names of the host. What can be checked on the bytes is checked
// before compiling, which is the expensive step.

// moduleImport is one entry of a module's import section.
type moduleImport struct {
	module, name string
	kind         byte // 0 function, 1 table, 2 memory, 3 global, 4 tag
}

// importKinds names the kinds of imports in messages.
var importKinds = [...]string{"function", "table", "memory", "global", "tag"}

func (i moduleImport) String() string {
	kind := fmt.Sprintf("kind %#x", i.kind)
	if int(i.kind) < len(importKinds) {
		kind = importKinds[i.kind]
	}
	return fmt.Sprintf("%s %s.%s", kind, i.module, i.name)
}

// listImports returns the entries of an import section.
func listImports(r []byte) ([]moduleImport, error) {
	count, n := readU32(r)
	if n == 0 {
		return nil, errMalformed
	}
	r = r[n:]
	var out []moduleImport
	for range count {
		var names [2]string
		for k := range names {
			size, n := readU32(r)
			if n == 0 || uint64(len(r)) < uint64(n)+uint64(size) {
				return nil, errMalformed
			}
			names[k] = string(r[n : n+int(size)])
			r = r[n+int(size):]
		}
		if len(r) < 1 {
			return nil, errMalformed
		}
		imp := moduleImport{module: names[0], name: names[1], kind: r[0]}
		var err error
		switch r = r[1:]; imp.kind {
		case 0, 4: // function: type index; tag: attribute, type index
			if imp.kind == 4 {
				if len(r) < 1 {
					return nil, errMalformed
				}
				r = r[1:]
			}
			_, n := readU32(r)
			if n == 0 {
				return nil, errMalformed
			}
			r = r[n:]
		case 1: // table: reference type, limits
			if len(r) < 1 {
				return nil, errMalformed
			}
			r, err = skipLimits(r[1:])
		case 2: // memory: limits
			r, err = skipLimits(r)
		case externGlobal: // value type, mutability
			if len(r) < 2 {
				return nil, errMalformed
			}
			r = r[2:]
		default:
			return nil, fmt.Errorf("import of kind %#x: %w", imp.kind, errMalformed)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, imp)
	}
	if len(r) != 0 {
		return nil, errMalformed
	}
	return out, nil
}

// providedImports are the functions the host gives guests, by import module
// and name: the guest ABI's and WASI's.
type providedImports map[string]map[string]api.FunctionDefinition

// newProvidedImports reads the functions of the host modules instantiated
// in r.
func newProvidedImports(r wazero.Runtime) (providedImports, error) {
	p := providedImports{}
	for _, name := range []string{abi.HostModule, wasi_snapshot_preview1.ModuleName} {
		mod := r.Module(name)
		if mod == nil {
			return nil, fmt.Errorf("host module %q is not instantiated", name)
		}
		p[name] = mod.ExportedFunctionDefinitions()
	}
	return p, nil
}

// checkImportNames refuses, before compiling, a module importing anything
// the host does not provide: only functions of the guest ABI and WASI, and
// never the host's reserved interrupt module.
func (p providedImports) checkImportNames(sections []section) error {
	for _, s := range sections {
		if s.id != sectionImport {
			continue
		}
		imports, err := listImports(s.content)
		if err != nil {
			return &ABIError{Reason: "invalid module: import section: " + err.Error()}
		}
		for _, imp := range imports {
			switch {
			case imp.module == interruptModule:
				return &ABIError{Reason: fmt.Sprintf("module imports %s: the import module %s is reserved for the host (docs/abi.md)", imp, interruptModule)}
			case imp.kind != 0:
				return &ABIError{Reason: fmt.Sprintf("module imports %s: the host provides only functions (docs/abi.md)", imp)}
			case p[imp.module] == nil:
				return &ABIError{Reason: fmt.Sprintf("module imports %s: the host provides only the modules %s and %s (docs/abi.md)", imp, abi.HostModule, wasi_snapshot_preview1.ModuleName)}
			case p[imp.module][imp.name] == nil:
				return &ABIError{Reason: fmt.Sprintf("module imports %s, which the host does not provide (docs/abi.md)", imp)}
			}
		}
	}
	return nil
}

// checkImportSignatures refuses a compiled module importing a host function
// with another signature than the host's. The interrupt check the rewrite
// added is the host's own.
func (p providedImports) checkImportSignatures(m wazero.CompiledModule) error {
	for _, f := range m.ImportedFunctions() {
		module, name, _ := f.Import()
		if module == interruptModule {
			continue // added by the rewrite; the guest's own were refused before
		}
		want := p[module][name]
		if want == nil {
			return &ABIError{Reason: fmt.Sprintf("module imports function %s.%s, which the host does not provide (docs/abi.md)", module, name)}
		}
		if !sameSignature(f, want) {
			return &ABIError{Reason: fmt.Sprintf("module imports function %s.%s as %s; the host's is %s (docs/abi.md)", module, name, signature(f), signature(want))}
		}
	}
	return nil
}

// requiredExports are the signatures of the exports docs/abi.md defines,
// and whether each must be present.
var requiredExports = []struct {
	name             string
	params, results  []api.ValueType
	required         bool
	reasonWhenAbsent string
}{
	{name: abi.ReconcileExport, params: []api.ValueType{api.ValueTypeI32}, results: []api.ValueType{api.ValueTypeI32}, required: true,
		reasonWhenAbsent: "module exports no reconcile function (docs/abi.md)"},
	{name: abi.SelectReconcilerExport, params: []api.ValueType{api.ValueTypeI32}, results: []api.ValueType{api.ValueTypeI32}},
	{name: abi.CompactExport},
	{name: abi.SharedInitExport},
	{name: abi.MarkerPrefix + fmt.Sprint(abi.Version)},
	{name: "_initialize"},
}

// checkABI refuses a compiled module that does not export what docs/abi.md
// requires, with the signatures it specifies.
func checkABI(m wazero.CompiledModule) error {
	exports := m.ExportedFunctions()
	var versions []string
	for name := range exports {
		if strings.HasPrefix(name, abi.MarkerPrefix) {
			versions = append(versions, strings.TrimPrefix(name, abi.MarkerPrefix))
		}
	}
	slices.Sort(versions)
	supported := fmt.Sprint(ABIVersion)
	switch {
	case len(versions) == 0:
		return &ABIError{Reason: "module is not built for wasm-apiserver: it exports no " + abi.MarkerPrefix + "<N> marker (build it with the guest SDK, see docs/abi.md)"}
	case !slices.Contains(versions, supported):
		return &ABIError{Reason: fmt.Sprintf("module requires ABI v%s; this host supports v%s", strings.Join(versions, ", v"), supported)}
	}
	for _, want := range requiredExports {
		f, ok := exports[want.name]
		switch {
		case !ok && want.required:
			return &ABIError{Reason: want.reasonWhenAbsent}
		case ok && (!slices.Equal(f.ParamTypes(), want.params) || !slices.Equal(f.ResultTypes(), want.results)):
			return &ABIError{Reason: fmt.Sprintf("module exports %s as %s; docs/abi.md specifies %s", want.name, signature(f), formatSignature(want.params, want.results))}
		}
	}
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		return &ABIError{Reason: "module exports no memory named \"memory\""}
	}
	return nil
}

func sameSignature(a, b api.FunctionDefinition) bool {
	return slices.Equal(a.ParamTypes(), b.ParamTypes()) && slices.Equal(a.ResultTypes(), b.ResultTypes())
}

func signature(f api.FunctionDefinition) string {
	return formatSignature(f.ParamTypes(), f.ResultTypes())
}

// formatSignature writes a function type as docs/abi.md does: (i32, i32) -> i32.
func formatSignature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	res := names(results)
	if len(results) != 1 {
		res = "(" + res + ")"
	}
	return "(" + names(params) + ") -> " + res
}
