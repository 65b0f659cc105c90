package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// GlobalExportPrefix starts the names under which Load exports every mutable
// global of a module, followed by the global's index in decimal:
// "wasm_apiserver_global_3". wazero can set only exported globals, and a
// snapshot must set them all. A module that exports a name with this prefix
// itself is refused at load.
const GlobalExportPrefix = "wasm_apiserver_global_"

// More section ids and kinds of the WebAssembly binary format.
const (
	sectionImport = 2
	sectionGlobal = 6
	sectionExport = 7

	externGlobal = 3
)

// Value types a snapshot can hold.
const (
	valueI32 = 0x7f
	valueI64 = 0x7e
	valueF32 = 0x7d
	valueF64 = 0x7c
)

// mutableGlobal is a mutable global of a module, in the module's index
// space, and the value type it holds.
type mutableGlobal struct {
	index     uint32
	valueType byte
}

func (g mutableGlobal) exportName() string {
	return GlobalExportPrefix + strconv.FormatUint(uint64(g.index), 10)
}

// exportMutableGlobals adds an export for every mutable global to the export
// section and returns the globals exported. It returns a nil slice and an
// error saying why when the module's globals cannot all be snapshotted
// (an imported global, a type other than a number, a section it cannot
// parse); the sections are then unchanged. It returns an *ABIError when the
// module already exports a name with GlobalExportPrefix.
func exportMutableGlobals(sections []section) ([]mutableGlobal, error) {
	exports := -1
	var globals []mutableGlobal
	for i, s := range sections {
		switch s.id {
		case sectionImport:
			_, imported, err := countImports(s.content)
			if err != nil {
				return nil, err
			}
			if imported > 0 {
				return nil, errors.New("the module imports globals, which a snapshot cannot restore")
			}
		case sectionGlobal:
			var err error
			if globals, err = parseGlobals(s.content); err != nil {
				return nil, err
			}
		case sectionExport:
			exports = i
		}
	}
	if exports < 0 {
		return nil, errors.New("the module has no export section")
	}
	content, err := appendGlobalExports(sections[exports].content, globals)
	if err != nil {
		return nil, err
	}
	sections[exports].content = content
	return globals, nil
}

// parseGlobals returns the mutable globals of a global section.
func parseGlobals(r []byte) ([]mutableGlobal, error) {
	count, n := readU32(r)
	if n == 0 {
		return nil, errMalformed
	}
	r = r[n:]
	var globals []mutableGlobal
	for i := range count {
		if len(r) < 2 {
			return nil, errMalformed
		}
		valueType, mutable := r[0], r[1]
		if mutable > 1 {
			return nil, errMalformed
		}
		rest, err := skipConstExpr(r[2:])
		if err != nil {
			return nil, err
		}
		r = rest
		if mutable == 0 {
			continue
		}
		switch valueType {
		case valueI32, valueI64, valueF32, valueF64:
		default:
			return nil, fmt.Errorf("mutable global %d has value type %#x, which a snapshot cannot hold", i, valueType)
		}
		globals = append(globals, mutableGlobal{index: i, valueType: valueType})
	}
	if len(r) != 0 {
		return nil, errMalformed
	}
	return globals, nil
}

// skipConstExpr returns what follows the constant expression at the start
// of r, which ends with the "end" opcode.
func skipConstExpr(r []byte) ([]byte, error) {
	for len(r) > 0 {
		op := r[0]
		r = r[1:]
		var n int
		switch op {
		case 0x0b: // end
			return r, nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			_, n = binary.Uvarint(r) // the value's bits do not matter, only its length
		case 0x43: // f32.const
			n = 4
		case 0x44: // f64.const
			n = 8
		case 0xd0: // ref.null t
			n = 1
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant expressions
			continue
		case 0xfd: // v128.const: opcode 12, then 16 bytes
			if len(r) < 1 || r[0] != 12 {
				return nil, errMalformed
			}
			n = 17
		default:
			return nil, fmt.Errorf("constant expression with opcode %#x: %w", op, errMalformed)
		}
		if n <= 0 || n > len(r) {
			return nil, errMalformed
		}
		r = r[n:]
	}
	return nil, errMalformed
}

// countImports returns how many functions and globals an import section
// imports.
func countImports(r []byte) (funcs, globals uint32, err error) {
	count, n := readU32(r)
	if n == 0 {
		return 0, 0, errMalformed
	}
	r = r[n:]
	for range count {
		for range 2 { // module and field names
			size, n := readU32(r)
			if n == 0 || uint64(len(r)) < uint64(n)+uint64(size) {
				return 0, 0, errMalformed
			}
			r = r[n+int(size):]
		}
		if len(r) < 1 {
			return 0, 0, errMalformed
		}
		kind := r[0]
		r = r[1:]
		switch kind {
		case 0: // function: type index
			funcs++
			_, n := readU32(r)
			if n == 0 {
				return 0, 0, errMalformed
			}
			r = r[n:]
		case 1: // table: reference type, limits
			if len(r) < 1 {
				return 0, 0, errMalformed
			}
			r, err = skipLimits(r[1:])
		case 2: // memory: limits
			r, err = skipLimits(r)
		case externGlobal: // value type, mutability
			globals++
			if len(r) < 2 {
				return 0, 0, errMalformed
			}
			r = r[2:]
		default:
			return 0, 0, fmt.Errorf("import of kind %#x: %w", kind, errMalformed)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if len(r) != 0 {
		return 0, 0, errMalformed
	}
	return funcs, globals, nil
}

// skipLimits returns what follows the limits at the start of r.
func skipLimits(r []byte) ([]byte, error) {
	if len(r) < 1 {
		return nil, errMalformed
	}
	flags := r[0]
	r = r[1:]
	values := 1
	if flags&1 != 0 {
		values = 2
	}
	for range values {
		_, n := binary.Uvarint(r)
		if n <= 0 {
			return nil, errMalformed
		}
		r = r[n:]
	}
	return r, nil
}

// appendGlobalExports returns the export section r with an export of each
// global added.
func appendGlobalExports(r []byte, globals []mutableGlobal) ([]byte, error) {
	count, n := readU32(r)
	if n == 0 {
		return nil, errMalformed
	}
	entries := r[n:]
	for rest := entries; len(rest) > 0 || count > 0; count-- {
		if count == 0 {
			return nil, errMalformed
		}
		size, n := readU32(rest)
		if n == 0 || uint64(len(rest)) < uint64(n)+uint64(size) {
			return nil, errMalformed
		}
		if name := string(rest[n : n+int(size)]); strings.HasPrefix(name, GlobalExportPrefix) {
			return nil, &ABIError{Reason: fmt.Sprintf("module exports %q, a name reserved for the host (prefix %s)", name, GlobalExportPrefix)}
		}
		rest = rest[n+int(size):]
		if len(rest) < 1 {
			return nil, errMalformed
		}
		_, n = readU32(rest[1:])
		if n == 0 {
			return nil, errMalformed
		}
		rest = rest[1+n:]
	}
	total, _ := readU32(r)
	out := binary.AppendUvarint(nil, uint64(total)+uint64(len(globals)))
	out = append(out, entries...)
	for _, g := range globals {
		name := g.exportName()
		out = binary.AppendUvarint(out, uint64(len(name)))
		out = append(out, name...)
		out = append(out, externGlobal)
		out = binary.AppendUvarint(out, uint64(g.index))
	}
	return out, nil
}
