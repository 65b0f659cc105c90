package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// module is what guestsize reads of a WebAssembly module.
type module struct {
	// importedFuncs is the number of imported functions, which come first
	// in the function index space.
	importedFuncs uint32
	// funcSizes are the sizes of the bodies of the defined functions.
	funcSizes []uint32
	// codeBytes is the size of the code section.
	codeBytes uint32
	// funcNames are the names of functions by index, from the name section.
	funcNames map[uint32]string
}

// reader reads the LEB128 integers and vectors of the binary format.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 1<<32-1 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *reader) bytes(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated module")
	}
	r.b = nil
}

// parse reads the sections guestsize needs.
func parse(wasm []byte) (*module, error) {
	if !bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, errors.New("not a WebAssembly module")
	}
	m := &module{funcNames: map[uint32]string{}}
	r := &reader{b: wasm[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.bytes(1)
		size := r.u32()
		body := &reader{b: r.bytes(size)}
		if r.err != nil {
			break
		}
		switch id[0] {
		case 0: // custom
			if name := string(body.bytes(body.u32())); name == "name" {
				m.readNames(body)
			}
		case 2: // import
			for n := body.u32(); n > 0 && body.err == nil; n-- {
				body.bytes(body.u32()) // module
				body.bytes(body.u32()) // name
				switch kind := body.bytes(1); {
				case kind == nil:
				case kind[0] == 0: // function: type index
					body.u32()
					m.importedFuncs++
				default:
					return nil, fmt.Errorf("import of kind %d: only function imports are read", kind[0])
				}
			}
		case 10: // code
			m.codeBytes = size
			for n := body.u32(); n > 0 && body.err == nil; n-- {
				s := body.u32()
				body.bytes(s)
				m.funcSizes = append(m.funcSizes, s)
			}
		}
		if body.err != nil {
			return nil, body.err
		}
	}
	return m, r.err
}

// readNames reads the function names subsection of the name section.
func (m *module) readNames(r *reader) {
	for len(r.b) > 0 && r.err == nil {
		id := r.bytes(1)
		sub := &reader{b: r.bytes(r.u32())}
		if id == nil || id[0] != 1 {
			continue
		}
		for n := sub.u32(); n > 0 && sub.err == nil; n-- {
			idx := sub.u32()
			m.funcNames[idx] = string(sub.bytes(sub.u32()))
		}
	}
}

// packageSize is the code of one package.
type packageSize struct {
	name  string
	bytes uint64
}

// byPackage sums the sizes of the defined functions by Go package, largest
// first.
func (m *module) byPackage() []packageSize {
	sums := map[string]uint64{}
	for i, s := range m.funcSizes {
		sums[packageOf(m.funcNames[m.importedFuncs+uint32(i)])] += uint64(s)
	}
	out := make([]packageSize, 0, len(sums))
	for name, b := range sums {
		out = append(out, packageSize{name, b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].bytes > out[j].bytes })
	return out
}

// packageOf returns the package of a function named in Go's name section,
// where a symbol such as "k8s.io/api/core/v1.(*Pod).Marshal" is written
// "k8s.io_api_core_v1.__Pod_.Marshal": the name up to the first dot that
// follows the package's domain, if it has one.
func packageOf(symbol string) string {
	if symbol == "" {
		return "(unnamed)"
	}
	rest := symbol
	if i := strings.Index(symbol, "_"); i > 0 && isDomain(symbol[:i]) {
		rest = symbol[i:]
	}
	dot := strings.Index(rest, ".")
	if dot < 0 {
		return symbol
	}
	return symbol[:len(symbol)-len(rest)+dot]
}

// isDomain reports whether s looks like the domain a module path starts
// with, such as "github.com" or "k8s.io".
func isDomain(s string) bool {
	dot := strings.LastIndex(s, ".")
	if dot <= 0 {
		return false
	}
	switch s[dot+1:] {
	case "com", "io", "org", "net", "in", "dev":
		return true
	}
	return false
}
