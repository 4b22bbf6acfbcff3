package arrowio

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"slices"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// KeyChecksum is the record batch custom_metadata key holding the batch's
// CRC-32C (Castagnoli), 8 lowercase hex digits, on every data batch and the
// end marker of a version-2 stream (see docs/format.md, "Checksums").
const KeyChecksum = "dpo.crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// schemaDigestInput is the schema part every batch checksum starts with:
// each field name then 0x00; each schema metadata key and value (keys in
// byte order) each followed by 0x00. A bit flip in the schema message (a
// tokenizer hash, a stage's options) therefore fails every batch's check.
func schemaDigestInput(s *arrow.Schema) []byte {
	var b []byte
	for _, f := range s.Fields() {
		b = append(append(b, f.Name...), 0)
	}
	md := s.Metadata()
	idx := make([]int, md.Len())
	for i := range idx {
		idx[i] = i
	}
	keys, vals := md.Keys(), md.Values()
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case keys[a] < keys[b]:
			return -1
		case keys[a] > keys[b]:
			return 1
		}
		return 0
	})
	for _, i := range idx {
		b = append(append(b, keys[i]...), 0)
		b = append(append(b, vals[i]...), 0)
	}
	return b
}

// batchChecksum is the CRC-32C of a batch as docs/format.md defines it:
// the schema part, the batch's custom metadata other than KeyChecksum
// (sorted, key 0x00 value 0x00), the row count (uint64 little-endian), then
// each column in schema order (see hashColumn).
func batchChecksum(schemaPart []byte, rec arrow.RecordBatch, md arrow.Metadata) uint32 {
	h := crc32.New(castagnoli)
	h.Write(schemaPart)
	keys, vals := md.Keys(), md.Values()
	idx := make([]int, 0, len(keys))
	for i, k := range keys {
		if k != KeyChecksum {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case keys[a] < keys[b]:
			return -1
		case keys[a] > keys[b]:
			return 1
		}
		return 0
	})
	var tmp []byte
	for _, i := range idx {
		tmp = append(append(tmp, keys[i]...), 0)
		tmp = append(append(tmp, vals[i]...), 0)
	}
	tmp = binary.LittleEndian.AppendUint64(tmp, uint64(rec.NumRows()))
	h.Write(tmp)
	for _, c := range rec.Columns() {
		hashColumn(h, c)
	}
	return h.Sum32()
}

// hashColumn feeds one column's logical values to h:
//
//   - a type tag byte: 'S' utf8, 'B' binary, 'L' list (then the item's tag),
//     'i' int32, 'I' int64, 'f' float32, 'F' float64, 'b' bool, 'T' other;
//   - a validity byte: 0x00 when the column has no nulls; else 0x01 and the
//     column is hashed as text (below);
//   - utf8, binary: each row's length as uint32 little-endian, then all the
//     rows' bytes concatenated;
//   - list<int32|int64|float32|float64>: each row's length as uint32, then
//     all the rows' values concatenated, little-endian;
//   - int32, int64, float32, float64: the values, little-endian;
//   - bool: one byte per row, 0 or 1;
//   - anything else (and any column with nulls): per row, the length as
//     uint32 then the bytes of arrow-go's ValueStr text.
func hashColumn(h hash.Hash32, c arrow.Array) {
	n := c.Len()
	tag := []byte{typeTag(c.DataType())}
	if l, ok := c.DataType().(*arrow.ListType); ok {
		tag = append(tag, typeTag(l.Elem()))
	}
	h.Write(tag)
	if c.NullN() > 0 {
		h.Write([]byte{1})
		hashText(h, c)
		return
	}
	h.Write([]byte{0})
	switch a := c.(type) {
	case *array.String:
		lens := make([]byte, 0, 4*n)
		for i := range n {
			lens = binary.LittleEndian.AppendUint32(lens, uint32(a.ValueLen(i)))
		}
		h.Write(lens)
		h.Write(a.ValueBytes())
	case *array.Binary:
		lens := make([]byte, 0, 4*n)
		for i := range n {
			lens = binary.LittleEndian.AppendUint32(lens, uint32(a.ValueLen(i)))
		}
		h.Write(lens)
		for i := range n {
			h.Write(a.Value(i))
		}
	case *array.List:
		lens := make([]byte, 0, 4*n)
		for i := range n {
			s, e := a.ValueOffsets(i)
			lens = binary.LittleEndian.AppendUint32(lens, uint32(e-s))
		}
		h.Write(lens)
		if n == 0 {
			return
		}
		lo64, _ := a.ValueOffsets(0)
		_, hi64 := a.ValueOffsets(n - 1)
		lo, hi := int(lo64), int(hi64)
		switch v := a.ListValues().(type) {
		case *array.Int32:
			if v.NullN() == 0 {
				h.Write(leBytes(v.Int32Values()[lo:hi]))
				return
			}
		case *array.Int64:
			if v.NullN() == 0 {
				h.Write(leBytes(v.Int64Values()[lo:hi]))
				return
			}
		case *array.Float32:
			if v.NullN() == 0 {
				h.Write(leBytes(v.Float32Values()[lo:hi]))
				return
			}
		case *array.Float64:
			if v.NullN() == 0 {
				h.Write(leBytes(v.Float64Values()[lo:hi]))
				return
			}
		}
		vs := array.NewSlice(a.ListValues(), int64(lo), int64(hi))
		hashText(h, vs)
		vs.Release()
	case *array.Int32:
		h.Write(leBytes(a.Int32Values()))
	case *array.Int64:
		h.Write(leBytes(a.Int64Values()))
	case *array.Float32:
		h.Write(leBytes(a.Float32Values()))
	case *array.Float64:
		h.Write(leBytes(a.Float64Values()))
	case *array.Boolean:
		b := make([]byte, n)
		for i := range n {
			if a.Value(i) {
				b[i] = 1
			}
		}
		h.Write(b)
	default:
		hashText(h, c)
	}
}

func typeTag(dt arrow.DataType) byte {
	switch dt.ID() {
	case arrow.STRING:
		return 'S'
	case arrow.BINARY:
		return 'B'
	case arrow.LIST:
		return 'L'
	case arrow.INT32:
		return 'i'
	case arrow.INT64:
		return 'I'
	case arrow.FLOAT32:
		return 'f'
	case arrow.FLOAT64:
		return 'F'
	case arrow.BOOL:
		return 'b'
	}
	return 'T'
}

func hashText(h hash.Hash32, c arrow.Array) {
	var b []byte
	for i := range c.Len() {
		s := c.ValueStr(i)
		b = binary.LittleEndian.AppendUint32(b[:0], uint32(len(s)))
		h.Write(append(b, s...))
	}
}

// leBytes views fixed-size numbers as their little-endian bytes (the
// platforms Go's arrow supports are little-endian; see isLittleEndian).
func leBytes[T int32 | int64 | float32 | float64](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	if !isLittleEndian {
		panic("arrowio: checksums need a little-endian machine")
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(v[0])))
}

var isLittleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

func formatChecksum(c uint32) string { return fmt.Sprintf("%08x", c) }

// verifyChecksum checks rec's KeyChecksum. required: a version-2 stream,
// where a batch without one is corrupt; a version-1 stream has none, and
// one present is still checked.
func verifyChecksum(schemaPart []byte, rec arrow.RecordBatch, required bool) error {
	var md arrow.Metadata
	if rm, ok := rec.(arrow.RecordBatchWithMetadata); ok {
		md = rm.Metadata()
	}
	v, ok := md.GetValue(KeyChecksum)
	if !ok {
		if required {
			return fmt.Errorf("no %s checksum in the batch's metadata (a format-version-%s stream has one on every batch): corrupt data", KeyChecksum, FormatVersion)
		}
		return nil
	}
	want, err := strconv.ParseUint(v, 16, 32)
	if err != nil || len(v) != 8 {
		return fmt.Errorf("invalid %s %q: corrupt data", KeyChecksum, v)
	}
	if got := batchChecksum(schemaPart, rec, md); got != uint32(want) {
		return fmt.Errorf("checksum mismatch (%s %s, data %s): corrupt data", KeyChecksum, v, formatChecksum(got))
	}
	return nil
}
