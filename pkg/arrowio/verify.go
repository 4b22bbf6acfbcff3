package arrowio

import (
	"encoding/binary"
	"fmt"
)

// This file checks the structure of IPC message metadata (a flatbuffer)
// before arrow-go decodes it. arrow-go sizes slices from vector lengths read
// out of the flatbuffer (fields, children, custom metadata); a corrupt length
// there makes it try to allocate terabytes, which the Go runtime reports as
// a fatal error that no recover can catch. Here every table, vector and
// string an Arrow message can reference is checked to lie inside the buffer,
// nesting is bounded, and body buffers are checked to lie inside the body.
//
// Table and field numbers follow format/Message.fbs and format/Schema.fbs of
// the Arrow specification.

const maxFieldDepth = 64

// Message header types (MessageHeader union).
const (
	fbHeaderSchema          = 1
	fbHeaderDictionaryBatch = 2
	fbHeaderRecordBatch     = 3
)

type fbError string

func (e fbError) Error() string { return "invalid message metadata: " + string(e) }

type fbTable struct {
	b   []byte
	pos int // table start
	vt  int // vtable start
	nvt int // number of field slots in the vtable
	sz  int // inline size of the table
}

func fbU32(b []byte, pos int) (uint32, error) {
	if pos < 0 || pos+4 > len(b) {
		return 0, fbError(fmt.Sprintf("offset %d out of bounds (%d bytes)", pos, len(b)))
	}
	return binary.LittleEndian.Uint32(b[pos:]), nil
}

// fbTableAt checks the table at pos and its vtable.
func fbTableAt(b []byte, pos int) (fbTable, error) {
	so, err := fbU32(b, pos)
	if err != nil {
		return fbTable{}, err
	}
	vt := pos - int(int32(so))
	if vt < 0 || vt+4 > len(b) {
		return fbTable{}, fbError(fmt.Sprintf("vtable at %d out of bounds", vt))
	}
	vtLen := int(binary.LittleEndian.Uint16(b[vt:]))
	sz := int(binary.LittleEndian.Uint16(b[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || vt+vtLen > len(b) {
		return fbTable{}, fbError(fmt.Sprintf("vtable at %d has invalid length %d", vt, vtLen))
	}
	if sz < 4 || pos+sz > len(b) {
		return fbTable{}, fbError(fmt.Sprintf("table at %d has invalid size %d", pos, sz))
	}
	return fbTable{b: b, pos: pos, vt: vt, nvt: (vtLen - 4) / 2, sz: sz}, nil
}

// field returns the absolute position of field i (of the given inline
// size), or ok=false when absent.
func (t fbTable) field(i, size int) (pos int, ok bool, err error) {
	if i >= t.nvt {
		return 0, false, nil
	}
	off := int(binary.LittleEndian.Uint16(t.b[t.vt+4+2*i:]))
	if off == 0 {
		return 0, false, nil
	}
	if off+size > t.sz {
		return 0, false, fbError(fmt.Sprintf("field %d of table at %d overflows the table", i, t.pos))
	}
	return t.pos + off, true, nil
}

func (t fbTable) scalar(i, size int) (uint64, error) {
	p, ok, err := t.field(i, size)
	if err != nil || !ok {
		return 0, err
	}
	var v uint64
	for k := size - 1; k >= 0; k-- {
		v = v<<8 | uint64(t.b[p+k])
	}
	return v, nil
}

// ref follows the uoffset stored in field i.
func (t fbTable) ref(i int) (pos int, ok bool, err error) {
	p, ok, err := t.field(i, 4)
	if err != nil || !ok {
		return 0, ok, err
	}
	u, err := fbU32(t.b, p)
	if err != nil {
		return 0, false, err
	}
	target := p + int(u)
	if target < p || target >= len(t.b) {
		return 0, false, fbError(fmt.Sprintf("reference in field %d of table at %d out of bounds", i, t.pos))
	}
	return target, true, nil
}

func (t fbTable) table(i int) (fbTable, bool, error) {
	p, ok, err := t.ref(i)
	if err != nil || !ok {
		return fbTable{}, ok, err
	}
	c, err := fbTableAt(t.b, p)
	return c, err == nil, err
}

// vector checks vector field i of elements of elem bytes (a string is a
// vector of 1-byte elements plus a terminator) and returns its start and
// length.
func (t fbTable) vector(i, elem int) (start, n int, err error) {
	p, ok, err := t.ref(i)
	if err != nil || !ok {
		return 0, 0, err
	}
	u, err := fbU32(t.b, p)
	if err != nil {
		return 0, 0, err
	}
	n = int(u)
	start = p + 4
	if n < 0 || n > (len(t.b)-start)/elem {
		return 0, 0, fbError(fmt.Sprintf("vector in field %d of table at %d: %d elements overflow the buffer", i, t.pos, n))
	}
	return start, n, nil
}

// tables checks a vector of tables with check.
func (t fbTable) tables(i int, check func(fbTable) error) error {
	start, n, err := t.vector(i, 4)
	if err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		p := start + 4*k
		u, _ := fbU32(t.b, p)
		target := p + int(u)
		if target < p || target >= len(t.b) {
			return fbError(fmt.Sprintf("vector element %d of field %d out of bounds", k, i))
		}
		c, err := fbTableAt(t.b, target)
		if err != nil {
			return err
		}
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

func checkKeyValue(kv fbTable) error {
	if _, _, err := kv.vector(0, 1); err != nil {
		return err
	}
	_, _, err := kv.vector(1, 1)
	return err
}

// verifyMessage checks a Message flatbuffer and returns its body length.
func verifyMessage(meta []byte) (bodyLen int64, err error) {
	root, err := fbU32(meta, 0)
	if err != nil {
		return 0, err
	}
	msg, err := fbTableAt(meta, int(root))
	if err != nil {
		return 0, err
	}
	ht, err := msg.scalar(1, 1)
	if err != nil {
		return 0, err
	}
	bl, err := msg.scalar(3, 8)
	if err != nil {
		return 0, err
	}
	bodyLen = int64(bl)
	if bodyLen < 0 || bodyLen > MaxBufferBytes {
		return 0, fbError(fmt.Sprintf("body length %d out of range", bodyLen))
	}
	if err := msg.tables(4, checkKeyValue); err != nil {
		return 0, err
	}
	h, ok, err := msg.table(2)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fbError("message has no header")
	}
	switch ht {
	case fbHeaderSchema:
		if err := verifySchema(h); err != nil {
			return 0, err
		}
	case fbHeaderRecordBatch:
		if err := verifyRecordBatch(h, bodyLen); err != nil {
			return 0, err
		}
	case fbHeaderDictionaryBatch:
		rb, ok, err := h.table(1)
		if err != nil {
			return 0, err
		}
		if ok {
			if err := verifyRecordBatch(rb, bodyLen); err != nil {
				return 0, err
			}
		}
	default:
		return 0, fbError(fmt.Sprintf("unsupported message type %d", ht))
	}
	return bodyLen, nil
}

func verifySchema(s fbTable) error {
	if err := s.tables(1, func(f fbTable) error { return verifyField(f, 0) }); err != nil {
		return err
	}
	if err := s.tables(2, checkKeyValue); err != nil {
		return err
	}
	_, _, err := s.vector(3, 8)
	return err
}

func verifyField(f fbTable, depth int) error {
	if depth > maxFieldDepth {
		return fbError(fmt.Sprintf("fields nested deeper than %d", maxFieldDepth))
	}
	if _, _, err := f.vector(0, 1); err != nil { // name
		return err
	}
	tt, err := f.scalar(2, 1)
	if err != nil {
		return err
	}
	if typ, ok, err := f.table(3); err != nil {
		return err
	} else if ok {
		switch tt {
		case 10: // Timestamp: timezone string
			if _, _, err := typ.vector(1, 1); err != nil {
				return err
			}
		case 14: // Union: typeIds [int]
			if _, _, err := typ.vector(1, 4); err != nil {
				return err
			}
		}
	}
	if dict, ok, err := f.table(4); err != nil {
		return err
	} else if ok {
		if _, _, err := dict.table(1); err != nil { // indexType
			return err
		}
	}
	if err := f.tables(5, func(c fbTable) error { return verifyField(c, depth+1) }); err != nil {
		return err
	}
	return f.tables(6, checkKeyValue)
}

func verifyRecordBatch(rb fbTable, bodyLen int64) error {
	length, err := rb.scalar(0, 8)
	if err != nil {
		return err
	}
	if int64(length) < 0 || int64(length) > 1<<31-1 {
		return fbError(fmt.Sprintf("record batch length %d out of range", int64(length)))
	}
	start, n, err := rb.vector(1, 16) // nodes: FieldNode{length, null_count int64}
	if err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		l := int64(binary.LittleEndian.Uint64(rb.b[start+16*k:]))
		nc := int64(binary.LittleEndian.Uint64(rb.b[start+16*k+8:]))
		if l < 0 || l > 1<<31-1 || nc < 0 || nc > l {
			return fbError(fmt.Sprintf("field node %d has length %d and null count %d", k, l, nc))
		}
	}
	start, n, err = rb.vector(2, 16) // buffers: Buffer{offset, length int64}
	if err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		off := int64(binary.LittleEndian.Uint64(rb.b[start+16*k:]))
		l := int64(binary.LittleEndian.Uint64(rb.b[start+16*k+8:]))
		if off < 0 || l < 0 || off > bodyLen || l > bodyLen-off {
			return fbError(fmt.Sprintf("buffer %d [%d, +%d) outside the %d-byte body", k, off, l, bodyLen))
		}
	}
	if _, _, err := rb.table(3); err != nil { // compression
		return err
	}
	_, _, err = rb.vector(4, 8) // variadicBufferCounts
	return err
}
