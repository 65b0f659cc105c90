package runtime

import (
	"encoding/binary"
	"fmt"
)

// rewriteCode returns a code section with check put after every loop
// header and the function indices of call, return_call and ref.func moved
// by shift.
func rewriteCode(r []byte, shift func(uint32) uint32, check []byte) ([]byte, error) {
	count, n := readU32(r)
	if n == 0 {
		return nil, errMalformed
	}
	out := make([]byte, 0, len(r)+len(r)/8)
	out = append(out, r[:n]...)
	rest := r[n:]
	var body []byte
	for i := range count {
		size, n := readU32(rest)
		if n == 0 || uint64(len(rest)) < uint64(n)+uint64(size) {
			return nil, errMalformed
		}
		var err error
		if body, err = rewriteBody(body[:0], rest[n:n+int(size)], shift, check); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
		rest = rest[n+int(size):]
	}
	if len(rest) != 0 {
		return nil, errMalformed
	}
	return out, nil
}

// rewriteBody appends the rewritten function body r to out.
func rewriteBody(out, r []byte, shift func(uint32) uint32, check []byte) ([]byte, error) {
	// Locals: a vector of (count, value type).
	groups, n := readU32(r)
	if n == 0 {
		return nil, errMalformed
	}
	p := n
	for range groups {
		_, n := readU32(r[p:])
		if n == 0 || p+n >= len(r) || !isValueType(r[p+n]) {
			return nil, errMalformed
		}
		p += n + 1
	}
	out = append(out, r[:p]...)
	c := codeReader{r: r, p: p}
	for c.p < len(r) {
		start := c.p
		op := r[c.p]
		c.p++
		switch {
		case op == 0x03: // loop
			c.blockType()
			if c.err != nil {
				return nil, c.err
			}
			out = append(out, r[start:c.p]...)
			out = append(out, check...)
			continue
		case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
			f := c.u32()
			if c.err != nil {
				return nil, c.err
			}
			out = append(out, op)
			out = binary.AppendUvarint(out, uint64(shift(f)))
			continue
		case op == 0x02 || op == 0x04: // block, if
			c.blockType()
		case op == 0x0c || op == 0x0d: // br, br_if
			c.u32()
		case op == 0x0e: // br_table
			for k := c.u32(); k > 0 && c.err == nil; k-- {
				c.u32()
			}
			c.u32()
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			c.u32()
			c.u32()
		case op == 0x1c: // select t*
			for k := c.u32(); k > 0 && c.err == nil; k-- {
				c.bytes(1)
			}
		case op >= 0x20 && op <= 0x26: // locals, globals, table.get/set
			c.u32()
		case op >= 0x28 && op <= 0x3e: // loads and stores
			c.memArg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			c.u32()
		case op == 0x41: // i32.const
			c.leb(5)
		case op == 0x42: // i64.const
			c.leb(10)
		case op == 0x43: // f32.const
			c.bytes(4)
		case op == 0x44: // f64.const
			c.bytes(8)
		case op == 0xd0: // ref.null
			c.leb(5)
		case op == 0xfc:
			c.prefixFC()
		case op == 0xfd:
			c.prefixSIMD()
		case op == 0xfe:
			c.prefixAtomic()
		case op <= 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b ||
			(op >= 0x45 && op <= 0xc4) || op == 0xd1:
			// No immediates.
		default:
			return nil, fmt.Errorf("instruction %#x at %d: %w", op, start, errUnsupported)
		}
		if c.err != nil {
			return nil, c.err
		}
		out = append(out, r[start:c.p]...)
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(r) == 0 || r[len(r)-1] != 0x0b {
		return nil, errMalformed
	}
	return out, nil
}

// codeReader walks the immediates of instructions; the first error sticks.
type codeReader struct {
	r   []byte
	p   int
	err error
}

func (c *codeReader) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.p = len(c.r)
}

func (c *codeReader) u32() uint32 {
	if c.err != nil {
		return 0
	}
	v, n := readU32(c.r[c.p:])
	if n == 0 {
		c.fail(errMalformed)
		return 0
	}
	c.p += n
	return v
}

// leb skips a LEB128 of at most max bytes, signed or not.
func (c *codeReader) leb(max int) {
	for i := 0; i < max; i++ {
		if c.err != nil || c.p >= len(c.r) {
			c.fail(errMalformed)
			return
		}
		b := c.r[c.p]
		c.p++
		if b&0x80 == 0 {
			return
		}
	}
	c.fail(errMalformed)
}

func (c *codeReader) bytes(n int) {
	if c.err != nil {
		return
	}
	if n < 0 || n > len(c.r)-c.p {
		c.fail(errMalformed)
		return
	}
	c.p += n
}

// blockType skips a block type: empty, a value type or a type index.
func (c *codeReader) blockType() {
	if c.err != nil {
		return
	}
	if c.p >= len(c.r) {
		c.fail(errMalformed)
		return
	}
	if c.r[c.p] == 0x40 || isValueType(c.r[c.p]) {
		c.p++
		return
	}
	c.leb(5) // s33 type index
}

// memArg skips alignment (with a memory index when its bit 6 is set) and
// offset.
func (c *codeReader) memArg() {
	if align := c.u32(); align&0x40 != 0 {
		c.u32()
	}
	c.leb(10)
}

// prefixFC skips the saturating truncations and the bulk memory and table
// instructions.
func (c *codeReader) prefixFC() {
	switch op := c.u32(); {
	case op <= 7: // trunc_sat
	case op == 8 || op == 10 || op == 12 || op == 14: // memory.init, memory.copy, table.init, table.copy
		c.u32()
		c.u32()
	case op == 9 || op == 11 || op == 13 || (op >= 15 && op <= 17): // data.drop, memory.fill, elem.drop, table.grow/size/fill
		c.u32()
	default:
		c.fail(fmt.Errorf("instruction 0xfc %d: %w", op, errUnsupported))
	}
}

// prefixSIMD skips the fixed-width SIMD instructions.
func (c *codeReader) prefixSIMD() {
	switch op := c.u32(); {
	case op <= 11 || op == 92 || op == 93: // loads and stores
		c.memArg()
	case op == 12 || op == 13: // v128.const, i8x16.shuffle
		c.bytes(16)
	case op >= 21 && op <= 34: // extract and replace lane
		c.bytes(1)
	case op >= 84 && op <= 91: // load and store lane
		c.memArg()
		c.bytes(1)
	case op <= 275: // no immediates
	default:
		c.fail(fmt.Errorf("instruction 0xfd %d: %w", op, errUnsupported))
	}
}

// prefixAtomic skips the threads proposal's instructions.
func (c *codeReader) prefixAtomic() {
	switch op := c.u32(); {
	case op == 3: // atomic.fence
		c.bytes(1)
	case op <= 2 || (op >= 0x10 && op <= 0x4e):
		c.memArg()
	default:
		c.fail(fmt.Errorf("instruction 0xfe %d: %w", op, errUnsupported))
	}
}

// shiftElements moves the function indices of an element section: those
// listed by index (flags 0 to 3) and those of ref.func expressions (4 to 7).
func shiftElements(r []byte, shift func(uint32) uint32) ([]byte, error) {
	count, n := readU32(r)
	if n == 0 {
		return nil, errMalformed
	}
	out := append([]byte(nil), r[:n]...)
	c := codeReader{r: r, p: n}
	for range count {
		flags := c.u32()
		if c.err != nil || flags > 7 {
			return nil, errMalformed
		}
		start := c.p
		if flags&1 == 0 { // active with an offset
			if flags&2 != 0 {
				c.u32() // table index
			}
			rest, err := skipConstExpr(r[c.p:])
			if err != nil {
				return nil, err
			}
			c.p = len(r) - len(rest)
		}
		if flags&3 != 0 {
			c.bytes(1) // element kind or reference type
		}
		if c.err != nil {
			return nil, c.err
		}
		out = binary.AppendUvarint(out, uint64(flags))
		out = append(out, r[start:c.p]...)
		items := c.u32()
		out = binary.AppendUvarint(out, uint64(items))
		for range items {
			if flags&4 == 0 {
				out = binary.AppendUvarint(out, uint64(shift(c.u32())))
				continue
			}
			// An expression: ref.func f end, or anything else copied.
			if c.p+1 < len(r) && r[c.p] == 0xd2 {
				c.p++
				f := c.u32()
				if c.err != nil || c.p >= len(r) || r[c.p] != 0x0b {
					return nil, errMalformed
				}
				c.p++
				out = append(out, 0xd2)
				out = append(binary.AppendUvarint(out, uint64(shift(f))), 0x0b)
				continue
			}
			rest, err := skipConstExpr(r[c.p:])
			if err != nil {
				return nil, err
			}
			end := len(r) - len(rest)
			out = append(out, r[c.p:end]...)
			c.p = end
		}
		if c.err != nil {
			return nil, c.err
		}
	}
	if c.p != len(r) {
		return nil, errMalformed
	}
	return out, nil
}

// shiftNames moves the function indices of a "name" custom section's
// function and local names. Any other custom section, and a name section
// it cannot read, is returned as it is: names only label stack traces.
func shiftNames(r []byte, shift func(uint32) uint32) []byte {
	size, n := readU32(r)
	if n == 0 || uint64(len(r)) < uint64(n)+uint64(size) || string(r[n:n+int(size)]) != "name" {
		return r
	}
	head := n + int(size)
	out := append([]byte(nil), r[:head]...)
	for rest := r[head:]; len(rest) > 0; {
		if len(rest) < 2 {
			return r
		}
		id := rest[0]
		size, n := readU32(rest[1:])
		if n == 0 || uint64(len(rest)) < 1+uint64(n)+uint64(size) {
			return r
		}
		sub := rest[1+n : 1+n+int(size)]
		rest = rest[1+n+int(size):]
		if id == 1 || id == 2 { // function names, local names
			var ok bool
			if sub, ok = shiftNameMap(sub, shift, id == 2); !ok {
				return r
			}
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(sub)))
		out = append(out, sub...)
	}
	return out
}

// shiftNameMap moves the indices of a name map (or, when indirect, the
// outer indices of an indirect name map).
func shiftNameMap(r []byte, shift func(uint32) uint32, indirect bool) ([]byte, bool) {
	count, n := readU32(r)
	if n == 0 {
		return nil, false
	}
	out := append([]byte(nil), r[:n]...)
	c := codeReader{r: r, p: n}
	skipNameMap := func() {
		for k := c.u32(); k > 0 && c.err == nil; k-- {
			c.u32()
			c.bytes(int(c.u32()))
		}
	}
	for range count {
		f := c.u32()
		start := c.p
		if indirect {
			skipNameMap()
		} else {
			c.bytes(int(c.u32()))
		}
		if c.err != nil {
			return nil, false
		}
		out = binary.AppendUvarint(out, uint64(shift(f)))
		out = append(out, r[start:c.p]...)
	}
	return out, c.p == len(r)
}
