package runtime

import (
	"encoding/binary"
	"slices"
)

// A tiny encoder of WebAssembly modules, for tests that need modules no Go
// compiler emits: raw-ABI drivers, wrong signatures, forbidden imports.

// Value types for testFunc signatures.
const (
	i32 = valueI32
	i64 = valueI64
)

// testImport is a function import.
type testImport struct {
	module, name    string
	params, results []byte
	// kind, when not 0, imports another kind with raw as its descriptor.
	kind byte
	raw  []byte
}

// testFunc is a function the module defines.
type testFunc struct {
	params, results []byte
	locals          int // i32 locals after the parameters
	body            []byte
}

// testExport exports function index (kind 0) or memory 0 (kind 2).
type testExport struct {
	name  string
	kind  byte
	index uint32
}

// testModule is a module to encode. Function indices count the function
// imports first, then funcs.
type testModule struct {
	imports  []testImport
	funcs    []testFunc
	exports  []testExport
	memPages uint32 // the memory's minimum, in 64 KiB pages; no memory when 0
	data     []testData
	// start, when set, is the function index of the start section plus
	// one.
	start uint32
	// dataCount adds a data count section, which memory.init and
	// data.drop need.
	dataCount bool
}

// testData is an active data segment of memory 0.
type testData struct {
	offset uint32
	bytes  []byte
}

// addImport appends a function import, moving the indices of exported
// functions past it.
func (m *testModule) addImport(im testImport) {
	m.imports = append(m.imports, im)
	if im.kind != 0 {
		return
	}
	for i := range m.exports {
		if m.exports[i].kind == 0 {
			m.exports[i].index++
		}
	}
}

func appendName(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendVec(b []byte, items ...[]byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func appendSection(b []byte, id byte, content []byte) []byte {
	b = append(b, id)
	b = binary.AppendUvarint(b, uint64(len(content)))
	return append(b, content...)
}

// encode returns the module's bytes.
func (m testModule) encode() []byte {
	var types [][]byte
	typeOf := func(params, results []byte) []byte {
		t := append(appendVec([]byte{0x60}, split(params)...), appendVec(nil, split(results)...)...)
		i := slices.IndexFunc(types, func(u []byte) bool { return slices.Equal(u, t) })
		if i < 0 {
			i = len(types)
			types = append(types, t)
		}
		return binary.AppendUvarint(nil, uint64(i))
	}
	var imports, funcs, code, exports [][]byte
	for _, im := range m.imports {
		e := appendName(appendName(nil, im.module), im.name)
		if im.kind != 0 {
			imports = append(imports, append(append(e, im.kind), im.raw...))
			continue
		}
		imports = append(imports, append(append(e, 0), typeOf(im.params, im.results)...))
	}
	for _, f := range m.funcs {
		funcs = append(funcs, typeOf(f.params, f.results))
		var body []byte
		if f.locals > 0 {
			body = append(binary.AppendUvarint([]byte{1}, uint64(f.locals)), i32)
		} else {
			body = []byte{0}
		}
		body = append(append(body, f.body...), 0x0b)
		code = append(code, append(binary.AppendUvarint(nil, uint64(len(body))), body...))
	}
	for _, e := range m.exports {
		exports = append(exports, binary.AppendUvarint(append(appendName(nil, e.name), e.kind), uint64(e.index)))
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = appendSection(out, sectionType, appendVec(nil, types...))
	if len(imports) > 0 {
		out = appendSection(out, sectionImport, appendVec(nil, imports...))
	}
	out = appendSection(out, sectionFunction, appendVec(nil, funcs...))
	if m.memPages > 0 {
		out = appendSection(out, 5, appendVec(nil, binary.AppendUvarint([]byte{0}, uint64(m.memPages))))
	}
	out = appendSection(out, sectionExport, appendVec(nil, exports...))
	if m.start > 0 {
		out = appendSection(out, sectionStart, binary.AppendUvarint(nil, uint64(m.start-1)))
	}
	if m.dataCount {
		out = appendSection(out, sectionDataCount, binary.AppendUvarint(nil, uint64(len(m.data))))
	}
	out = appendSection(out, sectionCode, appendVec(nil, code...))
	if len(m.data) == 0 {
		return out
	}
	var data [][]byte
	for _, d := range m.data {
		seg := appendSigned([]byte{0, 0x41}, int64(int32(d.offset))) // i32.const offset
		seg = append(seg, 0x0b)                                      // end
		data = append(data, append(binary.AppendUvarint(seg, uint64(len(d.bytes))), d.bytes...))
	}
	return appendSection(out, 11, appendVec(nil, data...))
}

// appendSigned appends v in signed LEB128, as i32.const takes it.
func appendSigned(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func split(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// Operations of the driver module's reconcile, the first word of each step.
const (
	opEnd = iota // return the step's a
	opInputRead
	opResultWrite
	opAPIRequest
	opAPIResponseRead
	opLog
)

// driverImports are the host functions of docs/abi.md, in op order.
var driverImports = []testImport{
	{module: "wasm_apiserver", name: "input_read", params: []byte{i32, i32}, results: []byte{i32}},
	{module: "wasm_apiserver", name: "result_write", params: []byte{i32, i32}, results: []byte{i32}},
	{module: "wasm_apiserver", name: "api_request", params: []byte{i32, i32, i32}, results: []byte{i32}},
	{module: "wasm_apiserver", name: "api_response_read", params: []byte{i32, i32}, results: []byte{i32}},
	{module: "wasm_apiserver", name: "log", params: []byte{i32, i32, i32}},
}

// stepBytes is the size of one step of the driver: op, a, b, c, ret, as
// little-endian u32s from address 0.
const stepBytes = 20

// driverModule is a raw-ABI guest whose reconcile runs the steps in its
// memory: each calls the host function of its op with the arguments a, b
// (and c) and stores the result in ret; opEnd returns its a.
func driverModule() testModule {
	load := func(off byte) []byte { return []byte{0x20, 1, 0x28, 2, off} } // local.get $p; i32.load offset=off
	body := []byte{0x03, 0x40}                                             // loop
	body = append(body, load(0)...)
	body = append(body, 0x45, 0x04, 0x40) // i32.eqz; if
	body = append(body, load(4)...)
	body = append(body, 0x0f, 0x0b) // return; end
	for k, im := range driverImports {
		body = append(body, load(0)...)
		body = append(body, 0x41, byte(k+1), 0x46, 0x04, 0x40) // i32.const op; i32.eq; if
		if len(im.results) > 0 {
			body = append(body, 0x20, 1) // the address of the store
		}
		for a := range im.params {
			body = append(body, load(byte(4+4*a))...)
		}
		body = append(body, 0x10, byte(k)) // call
		if len(im.results) > 0 {
			body = append(body, 0x36, 2, 16) // i32.store offset=16
		}
		body = append(body, 0x0b) // end
	}
	body = append(body, 0x20, 1, 0x41, stepBytes, 0x6a, 0x21, 1) // $p += stepBytes
	body = append(body, 0x0c, 0, 0x0b, 0x41, 0)                  // br 0; end; i32.const 0
	n := uint32(len(driverImports))
	return testModule{
		imports: slices.Clone(driverImports),
		funcs: []testFunc{
			{}, // the marker
			{params: []byte{i32}, results: []byte{i32}, locals: 1, body: body},
		},
		exports: []testExport{
			{name: "memory", kind: 2},
			{name: "wasm_apiserver_abi_v1", index: n},
			{name: "reconcile", index: n + 1},
		},
		memPages: 2,
	}
}
