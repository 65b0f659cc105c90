package runtime

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// A guest must stop when its reconcile times out, and a guest spinning in a
// loop must not keep Go's garbage collector from stopping the world: machine
// code cannot be preempted. wazero's WithCloseOnContextDone solves both by
// calling into Go at every loop header, which made Go guests about nine
// times slower (docs/RATIONALE.md). Instead, Load rewrites every loop header
// to count down a global of its own and call the host's interrupt check
// only when the count runs out, once every interruptEvery iterations: the
// check is a point where Go can preempt the goroutine, and it ends the guest
// when its context is done.
const (
	// interruptModule and interruptField name the host function the
	// rewritten loops call. It is not part of the guest ABI.
	interruptModule = "wasm_apiserver_interrupt"
	interruptField  = "check"
	// interruptEvery is how many loop iterations run between two checks:
	// tens of microseconds of guest code.
	interruptEvery = 1 << 14
)

// Section ids the injection reads or writes besides those of globals.go and
// segments.go.
const (
	sectionCustom   = 0
	sectionType     = 1
	sectionFunction = 3
	sectionStart    = 8
	sectionElement  = 9
)

// instantiateInterruptModule provides the interrupt check.
func instantiateInterruptModule(ctx context.Context, r wazero.Runtime) error {
	_, err := r.NewHostModuleBuilder(interruptModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(interruptCheck), nil, nil).Export(interruptField).
		Instantiate(ctx)
	return err
}

// interruptCheck ends the guest when the context of its call is done, as
// WithCloseOnContextDone would: the module is closed and the call fails
// with a *sys.ExitError of code ExitCodeDeadlineExceeded or
// ExitCodeContextCanceled.
func interruptCheck(ctx context.Context, mod api.Module, _ []uint64) {
	if ctx.Err() == nil {
		return
	}
	code := exitCode(ctx)
	_ = mod.CloseWithExitCode(ctx, code)
	panic(sys.NewExitError(code))
}

// exitCode is the exit code a guest whose context is done ends with:
// ExitCodeDeadlineExceeded or ExitCodeContextCanceled.
func exitCode(ctx context.Context) uint32 {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return sys.ExitCodeDeadlineExceeded
	}
	return sys.ExitCodeContextCanceled
}

// injectInterruptChecks rewrites the module's sections so that every loop
// header counts down a new mutable i32 global and, when it reaches zero,
// calls a new import of the interrupt check and refills the count. The
// import is added after the module's own imports, so every function index
// from there on moves up by one: calls, ref.func, exports, the start
// function, element segments and the name section follow. It fails on
// instructions or types it does not know, and then changes nothing.
func injectInterruptChecks(sections []section) ([]section, error) {
	idx := map[byte]int{}
	for i, s := range sections {
		if s.id != sectionCustom {
			idx[s.id] = i
		}
	}
	code, ok := idx[sectionCode]
	if !ok {
		return sections, nil // no functions, no loops
	}
	out := append([]section(nil), sections...)

	// The type () -> (): found or appended.
	var types []byte
	if i, ok := idx[sectionType]; ok {
		types = sections[i].content
	}
	typeIndex, newTypes, err := voidFuncType(types)
	if err != nil {
		return nil, err
	}
	out = setSection(out, sectionType, newTypes)

	// The import, after the module's own.
	var imports []byte
	if i, ok := idx[sectionImport]; ok {
		imports = sections[i].content
	}
	funcImports, globalImports, newImports, err := appendFuncImport(imports, typeIndex)
	if err != nil {
		return nil, err
	}
	out = setSection(out, sectionImport, newImports)
	check := funcImports // the new import's function index
	shift := func(f uint32) uint32 {
		if f >= check {
			return f + 1
		}
		return f
	}

	// The counter, after the module's own globals.
	var globals []byte
	if i, ok := idx[sectionGlobal]; ok {
		globals = sections[i].content
	}
	definedGlobals, newGlobals, err := appendCounterGlobal(globals)
	if err != nil {
		return nil, err
	}
	out = setSection(out, sectionGlobal, newGlobals)
	counter := globalImports + definedGlobals

	newCode, err := rewriteCode(sections[code].content, shift, loopCheck(counter, check))
	if err != nil {
		return nil, err
	}
	for i := range out {
		switch out[i].id {
		case sectionCode:
			out[i].content = newCode
		case sectionExport:
			if out[i].content, err = shiftExports(out[i].content, shift); err != nil {
				return nil, err
			}
		case sectionStart:
			f, n := readU32(out[i].content)
			if n == 0 || n != len(out[i].content) {
				return nil, errMalformed
			}
			out[i].content = binary.AppendUvarint(nil, uint64(shift(f)))
		case sectionElement:
			if out[i].content, err = shiftElements(out[i].content, shift); err != nil {
				return nil, err
			}
		case sectionCustom:
			out[i].content = shiftNames(out[i].content, shift)
		}
	}
	return out, nil
}

// loopCheck is the code put at the start of every loop:
//
//	global.get $counter
//	i32.eqz
//	if
//	  call $check
//	  i32.const interruptEvery
//	  global.set $counter
//	end
//	global.get $counter
//	i32.const 1
//	i32.sub
//	global.set $counter
//
// It leaves the operand stack as it found it.
func loopCheck(counter, check uint32) []byte {
	g := binary.AppendUvarint(nil, uint64(counter))
	b := append([]byte{0x23}, g...)
	b = append(b, 0x45, 0x04, 0x40, 0x10)
	b = binary.AppendUvarint(b, uint64(check))
	b = appendS32(append(b, 0x41), interruptEvery)
	b = append(append(b, 0x24), g...)
	b = append(append(b, 0x0b, 0x23), g...)
	b = append(b, 0x41, 0x01, 0x6b, 0x24)
	return append(b, g...)
}

// setSection replaces the content of the section id, or inserts the section
// where the binary format orders it.
func setSection(sections []section, id byte, content []byte) []section {
	for i := range sections {
		if sections[i].id == id {
			sections[i].content = content
			return sections
		}
	}
	at := len(sections)
	for i, s := range sections {
		if s.id != sectionCustom && sectionOrder(s.id) > sectionOrder(id) {
			at = i
			break
		}
	}
	return append(sections[:at], append([]section{{id, content}}, sections[at:]...)...)
}

// sectionOrder is where a section goes among the others: data count (12)
// and tags (13) come before code and globals respectively.
func sectionOrder(id byte) int {
	switch id {
	case 13: // tag
		return 55
	case sectionDataCount:
		return 95
	}
	return int(id) * 10
}

// voidFuncType returns the index of the function type () -> () in a type
// section, appending it when there is none, and the section.
func voidFuncType(r []byte) (uint32, []byte, error) {
	if len(r) == 0 {
		return 0, []byte{1, 0x60, 0, 0}, nil
	}
	count, n := readU32(r)
	if n == 0 {
		return 0, nil, errMalformed
	}
	rest := r[n:]
	for i := range count {
		if len(rest) < 1 || rest[0] != 0x60 {
			return 0, nil, fmt.Errorf("type %d is not a plain function type: %w", i, errUnsupported)
		}
		rest = rest[1:]
		var lens [2]uint32
		for j := range 2 { // parameters, results
			k, n := readU32(rest)
			if n == 0 || uint64(len(rest)) < uint64(n)+uint64(k) {
				return 0, nil, errMalformed
			}
			for _, t := range rest[n : n+int(k)] {
				if !isValueType(t) {
					return 0, nil, fmt.Errorf("type %d has value type %#x: %w", i, t, errUnsupported)
				}
			}
			lens[j] = k
			rest = rest[n+int(k):]
		}
		if lens == [2]uint32{} {
			return i, r, nil
		}
	}
	if len(rest) != 0 {
		return 0, nil, errMalformed
	}
	out := binary.AppendUvarint(nil, uint64(count)+1)
	out = append(out, r[n:]...)
	return count, append(out, 0x60, 0, 0), nil
}

func isValueType(t byte) bool {
	switch t {
	case valueI32, valueI64, valueF32, valueF64, 0x7b, 0x70, 0x6f: // numbers, v128, funcref, externref
		return true
	}
	return false
}

var errUnsupported = errors.New("not supported by the interrupt rewrite")

// appendFuncImport appends the interrupt check import to an import section
// and returns how many functions and globals the module imported before.
func appendFuncImport(r []byte, typeIndex uint32) (funcs, globals uint32, out []byte, err error) {
	var count uint32
	var entries []byte
	if len(r) > 0 {
		if funcs, globals, err = countImports(r); err != nil {
			return 0, 0, nil, err
		}
		var n int
		count, n = readU32(r)
		entries = r[n:]
	}
	out = binary.AppendUvarint(nil, uint64(count)+1)
	out = append(out, entries...)
	for _, name := range []string{interruptModule, interruptField} {
		out = binary.AppendUvarint(out, uint64(len(name)))
		out = append(out, name...)
	}
	out = append(out, 0)
	return funcs, globals, binary.AppendUvarint(out, uint64(typeIndex)), nil
}

// appendCounterGlobal appends the mutable i32 counter, starting at
// interruptEvery, to a global section and returns how many globals it
// defined before.
func appendCounterGlobal(r []byte) (uint32, []byte, error) {
	var count uint32
	var entries []byte
	if len(r) > 0 {
		var n int
		if count, n = readU32(r); n == 0 {
			return 0, nil, errMalformed
		}
		entries = r[n:]
		// A global initialized with ref.func would need its index moved.
		rest := entries
		for i := range count {
			if len(rest) < 3 {
				return 0, nil, errMalformed
			}
			if rest[2] == 0xd2 {
				return 0, nil, fmt.Errorf("global %d is initialized with ref.func: %w", i, errUnsupported)
			}
			var err error
			if rest, err = skipConstExpr(rest[2:]); err != nil {
				return 0, nil, err
			}
		}
		if len(rest) != 0 {
			return 0, nil, errMalformed
		}
	}
	out := binary.AppendUvarint(nil, uint64(count)+1)
	out = append(out, entries...)
	out = appendS32(append(out, valueI32, 1, 0x41), interruptEvery)
	return count, append(out, 0x0b), nil
}

// shiftExports moves the function indices of an export section.
func shiftExports(r []byte, shift func(uint32) uint32) ([]byte, error) {
	count, n := readU32(r)
	if n == 0 {
		return nil, errMalformed
	}
	out := append([]byte(nil), r[:n]...)
	rest := r[n:]
	for range count {
		size, n := readU32(rest)
		if n == 0 || uint64(len(rest)) < uint64(n)+uint64(size)+1 {
			return nil, errMalformed
		}
		out = append(out, rest[:n+int(size)+1]...)
		kind := rest[n+int(size)]
		rest = rest[n+int(size)+1:]
		index, n := readU32(rest)
		if n == 0 {
			return nil, errMalformed
		}
		rest = rest[n:]
		if kind == 0 {
			index = shift(index)
		}
		out = binary.AppendUvarint(out, uint64(index))
	}
	if len(rest) != 0 {
		return nil, errMalformed
	}
	return out, nil
}
