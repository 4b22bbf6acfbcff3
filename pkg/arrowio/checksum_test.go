package arrowio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// refStreamBytes writes rows plus the two reference log-prob columns, in
// batches of 2 rows, with codec.
func refStreamBytes(t *testing.T, mem memory.Allocator, rows []row, codec, version string, checksums bool) []byte {
	t.Helper()
	meta := testMeta()
	meta.Set(KeyFormatVersion, version)
	schema, err := AppendFields(PairsSchema(meta),
		arrow.Field{Name: ColRefChosenLogps, Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: ColRefRejectedLogps, Type: arrow.PrimitiveTypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, schema, WriterOptions{Codec: codec, BatchRows: 2, Concurrency: 1, Mem: mem, version1: !checksums})
	if err != nil {
		t.Fatal(err)
	}
	pairs := buildRecord(t, mem, PairsSchema(meta), rows)
	defer pairs.Release()
	fb := array.NewFloat64Builder(mem)
	defer fb.Release()
	var cols []arrow.Array
	for k := range 2 {
		for i := range rows {
			fb.Append(-float64(i*7+k) - 0.123456789)
		}
		cols = append(cols, fb.NewArray())
	}
	rec, err := AppendColumns(w.Schema(), pairs, cols...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	for _, c := range cols {
		c.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeAll reads a stream into a canonical text of everything a consumer
// sees: schema fields and metadata, and every value of every batch.
func decodeAll(data []byte, mem memory.Allocator) (string, error) {
	r, err := NewReader(bytes.NewReader(data), "flip.arrows", mem)
	if err != nil {
		return "", err
	}
	defer r.Release()
	var sb strings.Builder
	for _, f := range r.Schema().Fields() {
		fmt.Fprintf(&sb, "%s:%s;", f.Name, typeString(f.Type)) // list item names are not significant
	}
	sb.WriteString(r.Metadata().String())
	for r.Next() {
		rec := r.Record()
		for c, col := range rec.Columns() {
			fmt.Fprintf(&sb, "|%d:", c)
			for i := range col.Len() {
				sb.WriteString(col.ValueStr(i))
				sb.WriteByte(',')
			}
		}
	}
	if err := r.Err(); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// flipAll flips every bit of data in turn and counts the reads that
// succeed with different data (silent corruption).
func flipAll(t *testing.T, data []byte, mem memory.Allocator) (silent, errs, same int, example string) {
	want, err := decodeAll(data, mem)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(data)
	for i := range buf {
		for bit := range 8 {
			buf[i] ^= 1 << bit
			got, err := decodeAll(buf, mem)
			switch {
			case err != nil:
				errs++
			case got == want:
				same++
			default:
				silent++
				if example == "" {
					example = fmt.Sprintf("byte %d bit %d", i, bit)
				}
			}
			buf[i] ^= 1 << bit
		}
	}
	return
}

// TestBitFlips flips every bit of small streams: with the per-batch
// checksum every flip either fails the read or leaves what a consumer sees
// identical (padding, unused header bytes). With DPO_MEASURE_V1_FLIPS=1
// version-1 streams (no checksum) are measured for comparison (the numbers
// in docs/format.md).
func TestBitFlips(t *testing.T) {
	rows := []row{ // small, so every bit can be flipped in a few seconds
		{"a", []int32{1, 2, 3}, []int32{4, 5}, []int32{6}},
		{"bé", make([]int32, 64), []int32{7}, []int32{}}, // a compressible buffer among raw ones
		{"c", []int32{150000}, []int32{8, 9}, []int32{10, 11}},
	}
	for _, codec := range []string{CodecZstd, CodecNone} {
		t.Run(codec, func(t *testing.T) {
			mem := memory.NewGoAllocator()
			cur := refStreamBytes(t, mem, rows, codec, FormatVersion, true)
			silent, errs, same, ex := flipAll(t, cur, mem)
			t.Logf("version %s, %d bytes: %d flips fail, %d read identical data, %d silently change data", FormatVersion, len(cur), errs, same, silent)
			if silent > 0 {
				t.Errorf("%d single-bit flips change the data silently (first: %s)", silent, ex)
			}
			if os.Getenv("DPO_MEASURE_V1_FLIPS") == "" { // the docs' comparison numbers
				return
			}
			v1 := refStreamBytes(t, mem, rows, codec, "1", false)
			silent, errs, same, _ = flipAll(t, v1, mem)
			t.Logf("version 1 (no checksums), %d bytes: %d fail, %d identical, %d silently change data", len(v1), errs, same, silent)
		})
	}
}

// A version-2 stream whose batches lack the checksum is refused; version 1
// without checksums still reads.
func TestChecksumRequiredInV2(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(5, 3)
	v1 := refStreamBytes(t, mem, rows, CodecZstd, "1", false)
	if _, err := decodeAll(v1, mem); err != nil {
		t.Fatalf("version 1 without checksums: %v", err)
	}
	if bytes.Contains(v1, []byte(KeyChecksum)) {
		t.Fatal("version-1 stream has checksums")
	}
	v2 := refStreamBytes(t, mem, rows, CodecZstd, "2", false)
	_, err := decodeAll(v2, mem)
	checkErr(t, err, "no dpo.crc32c checksum")
}

// The checksums and batch order keys follow docs/format.md: pyarrow and a
// pure-Python CRC-32C written from the spec recompute every batch's
// checksum (data batches, including float64 and bool columns and a
// non-ASCII id, and the end marker) and its index, row offset and previous
// checksum; and the same script flags swapped batches.
func TestChecksumMatchesSpec(t *testing.T) {
	py := testrefs.Python(t, "pyarrow")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(9, 5)
	data := refStreamBytes(t, mem, rows, CodecZstd, FormatVersion, true)
	// A bool column too (dpo-score's "correct").
	path := filepath.Join(t.TempDir(), "s.arrows")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	scored := filepath.Join(t.TempDir(), "scored.arrows")
	if err := os.WriteFile(scored, withBoolColumn(t, mem, data), 0o644); err != nil {
		t.Fatal(err)
	}
	// Batches 1 and 2 swapped: each still has a valid checksum.
	m := splitMessages(t, data)
	swapped := filepath.Join(t.TempDir(), "swapped.arrows")
	if err := os.WriteFile(swapped, slices.Concat(m[0], m[1], m[3], m[2], m[4], m[5], m[6], m[7]), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, scored, swapped} {
		out, err := exec.Command(py, filepath.Join(testrefs.Root(), "tools", "oracle", "stream_checksum.py"), p).Output()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var res struct {
			Batches    int
			Mismatches []any
			Missing    []int
			Order      []struct {
				Batch               int
				Key, Stored, Python string
			}
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		if res.Batches != 6 || len(res.Mismatches) > 0 || len(res.Missing) > 0 {
			t.Errorf("%s: %+v (want 6 batches, all matching)", filepath.Base(p), res)
		}
		if p != swapped {
			if len(res.Order) > 0 {
				t.Errorf("%s: order keys differ from Python's: %+v", filepath.Base(p), res.Order)
			}
			continue
		}
		if len(res.Order) == 0 || res.Order[0].Batch != 1 || res.Order[0].Key != KeyBatchIndex {
			t.Errorf("swapped batches: Python's order check %+v, want batch 1's %s first", res.Order, KeyBatchIndex)
		}
		checkErr(t, readErr(slices.Concat(m...), "ok", mem, nil), "")
		if err := readErr(slices.Concat(m[0], m[1], m[3], m[2], m[4], m[5], m[6], m[7]), "swapped.arrows", mem, nil); err == nil {
			t.Error("swapped batches read without error")
		}
	}
}

// withBoolColumn rewrites a stream with an extra bool column.
func withBoolColumn(t *testing.T, mem memory.Allocator, data []byte) []byte {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), "in", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	schema, err := AppendFields(r.Schema(), arrow.Field{Name: ColCorrect, Type: arrow.FixedWidthTypes.Boolean})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, schema, WriterOptions{BatchRows: 2, Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		rec := r.Record()
		b := array.NewBooleanBuilder(mem)
		for i := range rec.NumRows() {
			b.Append(i%2 == 0)
		}
		col := b.NewArray()
		b.Release()
		out, err := AppendColumns(schema, rec, col)
		col.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(out); err != nil {
			t.Fatal(err)
		}
		out.Release()
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
