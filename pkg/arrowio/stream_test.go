package arrowio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestRoundTrip(t *testing.T) {
	for _, codec := range []string{"", CodecZstd, CodecLZ4, CodecNone} {
		for _, tc := range []struct {
			rows, chunk, batchRows int
		}{
			{0, 1, 4},
			{1, 1, 4},
			{10, 3, 4},   // small writes concatenated
			{10, 10, 4},  // one big write sliced
			{17, 5, 4},   // mixed
			{12, 4, 4},   // exact
			{100, 7, 16}, // many
			{3000, 1000, 0},
		} {
			name := fmt.Sprintf("codec=%q/rows=%d/chunk=%d/batch=%d", codec, tc.rows, tc.chunk, tc.batchRows)
			t.Run(name, func(t *testing.T) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				want := genRows(tc.rows, uint64(tc.rows))
				data := writeStream(t, mem, testMeta(), want, tc.chunk, WriterOptions{Codec: codec, BatchRows: tc.batchRows, Concurrency: 2})
				got, sizes, meta, err := readStream(t, data, mem)
				if err != nil {
					t.Fatal(err)
				}
				diffRows(t, got, want)
				batch := int64(tc.batchRows)
				if batch == 0 {
					batch = DefaultBatchRows
				}
				for i, s := range sizes {
					if s != batch && !(i == len(sizes)-1 && s < batch) {
						t.Errorf("batch sizes %v: batch %d has %d rows, want %d (only the last may be shorter)", sizes, i, s, batch)
					}
				}
				if wantBatches := (int64(tc.rows) + batch - 1) / batch; int64(len(sizes)) != wantBatches {
					t.Errorf("got %d batches, want %d", len(sizes), wantBatches)
				}
				if !meta.Equal(testMeta()) {
					t.Errorf("metadata:\n%s\nwant\n%s", meta, testMeta())
				}
			})
		}
	}
}

// TestPlainArrowReader reads our stream with arrow-go's own ipc.NewReader,
// as any other Arrow consumer would: the data batches, then one empty batch
// whose message custom_metadata holds the end marker.
func TestPlainArrowReader(t *testing.T) {
	for _, codec := range []string{CodecZstd, CodecLZ4, CodecNone} {
		t.Run(codec, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			want := genRows(50, 1)
			data := writeStream(t, mem, testMeta(), want, 50, WriterOptions{Codec: codec, BatchRows: 20})
			r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(mem))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			if v, _ := r.Schema().Metadata().GetValue(KeyFormatVersion); v != FormatVersion {
				t.Errorf("schema metadata %s = %q", KeyFormatVersion, v)
			}
			var got []row
			var sizes []int64
			var last arrow.Metadata
			for r.Next() {
				rec := r.RecordBatch()
				sizes = append(sizes, rec.NumRows())
				last = rec.(arrow.RecordBatchWithMetadata).Metadata()
				ids := rec.Column(0).(*array.String)
				lists := [3]*array.List{rec.Column(1).(*array.List), rec.Column(2).(*array.List), rec.Column(3).(*array.List)}
				for i := 0; i < int(rec.NumRows()); i++ {
					var vals [3][]int32
					for k, l := range lists {
						s, e := l.ValueOffsets(i)
						vals[k] = slices.Clone(l.ListValues().(*array.Int32).Int32Values()[s:e])
					}
					got = append(got, row{ids.Value(i), vals[0], vals[1], vals[2]})
				}
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			diffRows(t, got, want)
			if !slices.Equal(sizes, []int64{20, 20, 10, 0}) {
				t.Errorf("batch sizes %v, want [20 20 10 0]", sizes)
			}
			if v, _ := last.GetValue(KeyEndMarker); v != "1" {
				t.Errorf("last batch custom metadata %v: no end marker", last)
			}
			if v, _ := last.GetValue(KeyTotalRows); v != "50" {
				t.Errorf("end marker %s = %q, want 50", KeyTotalRows, v)
			}
		})
	}
}

// boundaries writes rows in batches of batchRows, one Write per batch, and
// returns the stream and the byte offset at which each batch message ends
// (ends[0] is the end of the first batch, which follows the schema).
func boundaries(t *testing.T, mem memory.Allocator, rows []row, batchRows int) (data []byte, ends []int) {
	t.Helper()
	var buf bytes.Buffer
	schema := PairsSchema(testMeta())
	w, err := NewWriter(&buf, schema, WriterOptions{BatchRows: batchRows, Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(rows); off += batchRows {
		rec := buildRecord(t, mem, schema, rows[off:min(off+batchRows, len(rows))])
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		ends = append(ends, buf.Len())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ends
}

func TestEndMarker(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(40, 2)
	data, ends := boundaries(t, mem, rows, 10) // 4 batches
	eos := len(data) - 8                       // the IPC end-of-stream is 8 bytes

	// withoutBatch splices batch i out of the stream.
	withoutBatch := func(i int) []byte {
		return slices.Concat(data[:ends[i-1]], data[ends[i]:])
	}
	// plainStream writes rows with arrow's own writer and our schema: no
	// end marker, optionally a hand-made marker.
	plainStream := func(marker arrow.Metadata, extra bool) []byte {
		var buf bytes.Buffer
		m := testMeta()
		m.Set(KeyFormatVersion, "1") // version 1: no batch checksums
		schema := PairsSchema(m)
		w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(mem))
		rec := buildRecord(t, mem, schema, rows[:5])
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if marker.Len() > 0 {
			empty := rec.NewSlice(0, 0)
			m := array.NewRecordBatchWithMetadata(schema, empty.Columns(), 0, marker)
			if err := w.Write(m); err != nil {
				t.Fatal(err)
			}
			m.Release()
			empty.Release()
		}
		if extra {
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	marker := func(n string) arrow.Metadata {
		return arrow.NewMetadata([]string{KeyEndMarker, KeyTotalRows}, []string{"1", n})
	}

	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string // "" = success
		rows    int64
	}{
		{"complete", data, "", 40},
		{"complete without IPC EOS", data[:eos], "", 40},
		{"cut between batches", data[:ends[1]], "stream ends without the end marker after 20 rows in 2 batches: truncated input", 0},
		{"cut after last data batch", data[:ends[3]], "stream ends without the end marker after 40 rows in 4 batches: truncated input", 0},
		{"cut after schema", data[:ends[0]-(ends[1]-ends[0])+0][:0], "not a readable Arrow IPC stream", 0},
		{"batch lost", withoutBatch(2), "batch 2: dpo.batch_index 3 where batch 2 belongs: batch 2 missing", 0},
		{"batch duplicated", slices.Concat(data[:ends[1]], data[ends[0]:]), "batch 2: dpo.batch_index 1 where batch 2 belongs: batch 1 repeated", 0},
		{"no marker (plain arrow writer)", plainStream(arrow.Metadata{}, false), "stream ends without the end marker after 5 rows in 1 batches", 0},
		{"hand-made marker", plainStream(marker("5"), false), "", 5},
		{"marker count wrong", plainStream(marker("6"), false), "end marker says 6 rows but the stream holds 5 rows", 0},
		{"marker count invalid", plainStream(marker("five"), false), `end marker has an invalid dpo.num_rows "five"`, 0},
		{"data after marker", plainStream(marker("5"), true), "data after the end marker", 0},
		{"two streams concatenated", slices.Concat(data, data), "data after the end of the stream: concatenated streams are not supported", 0},
		{"trailing garbage", slices.Concat(data, []byte("\n")), "data after the end of the stream", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data), "in.arrows", mem)
			if err == nil {
				for r.Next() {
				}
				err = r.Err()
				if err == nil && r.Rows() != tc.rows {
					t.Errorf("Rows() = %d, want %d", r.Rows(), tc.rows)
				}
				if err == nil && !r.Complete() {
					t.Error("Complete() = false after a clean end")
				}
				r.Release()
			}
			checkErr(t, err, tc.wantErr)
			if err != nil && !strings.Contains(err.Error(), "in.arrows") {
				t.Errorf("error %q does not name the input", err)
			}
			if strings.Contains(tc.wantErr, "truncated") && !errors.Is(err, ErrTruncated) {
				t.Errorf("error %v does not wrap ErrTruncated", err)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q\ndoes not contain %q", err, want)
	}
}

// TestTruncatedEverywhere cuts a stream at every byte: every prefix must
// fail, never panic, except the one ending right after the end-marker
// message (only the IPC end-of-stream missing), which reads completely.
func TestTruncatedEverywhere(t *testing.T) {
	for _, codec := range []string{CodecZstd, CodecLZ4, CodecNone} {
		t.Run(codec, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			want := genRows(12, 3)
			data := writeStream(t, mem, testMeta(), want, 12, WriterOptions{Codec: codec, BatchRows: 5})
			eos := len(data) - 8
			for cut := 0; cut <= len(data); cut++ {
				got, _, _, err := readStream(t, data[:cut], mem)
				complete := cut == eos || cut == len(data)
				if !complete && err == nil {
					t.Fatalf("cut at %d of %d bytes: no error", cut, len(data))
				}
				if complete {
					if err != nil {
						t.Fatalf("cut at %d (only EOS missing): %v", cut, err)
					}
					diffRows(t, got, want)
				}
				if err != nil && !strings.Contains(err.Error(), "test.arrows") {
					t.Fatalf("cut at %d: error %q does not name the input", cut, err)
				}
			}
		})
	}
}

// TestCorruptBytes flips bits in every byte of small streams, one at a
// time: the reader must return an error or data, never panic. A successful
// read must not leak. (arrow-go leaks buffers it allocated before panicking
// on some corrupt bodies; the Go allocator reclaims them, so failed reads are
// not checked for leaks.)
func TestCorruptBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, codec := range []string{CodecZstd, CodecNone} {
		t.Run(codec, func(t *testing.T) {
			data := writeStream(t, memory.DefaultAllocator, testMeta(), genRows(6, 4), 6, WriterOptions{Codec: codec, BatchRows: 4})
			buf := make([]byte, len(data))
			for i := range data {
				for _, bit := range []byte{0x01, 0x10, 0x80} {
					copy(buf, data)
					buf[i] ^= bit
					mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
					_, _, _, err := readStream(t, buf, mem)
					if err != nil && !strings.Contains(err.Error(), "test.arrows") {
						t.Fatalf("byte %d: error %q does not name the input", i, err)
					}
					if err == nil {
						mem.AssertSize(t, 0)
					}
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(8, 5)
	for i := range rows { // compressible, so zstd frames (with checksums) are kept
		rows[i].prompt = slices.Repeat([]int32{7, 8}, 200)
		rows[i].chosen = slices.Repeat([]int32{9, 10}, 200)
		rows[i].rejected = slices.Repeat([]int32{11, 12}, 200)
	}
	good, ends := boundaries(t, mem, rows, 4)
	corrupt := slices.Clone(good)
	for i := ends[1] - 60; i < ends[1]-20; i++ { // inside batch 1's zstd buffers
		corrupt[i] ^= 0x5A
	}

	// A stream of another tool: no dpo metadata.
	var foreign bytes.Buffer
	{
		schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
		w := ipc.NewWriter(&foreign, ipc.WithSchema(schema))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	future := func(v string) []byte {
		m := testMeta()
		m.Set(KeyFormatVersion, v)
		return writeStream(t, mem, m, rows, 8, WriterOptions{})
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "not a readable Arrow IPC stream"},
		{"jsonl", `{"prompt": "a", "chosen": "b", "rejected": "c"}` + "\n", "not a readable Arrow IPC stream"},
		{"arrow file magic", "ARROW1\x00\x00garbage", "not a readable Arrow IPC stream"},
		{"foreign stream", foreign.String(), "not a dpo stream: schema metadata has no dpo.format_version"},
		{"newer format", string(future("4")), "stream has format version 4 but this tool reads version 3"},
		{"bad format", string(future("x")), `unsupported format version "x"`},
		{"zstd body corrupted", string(corrupt), "test.arrows: batch 1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := readStream(t, []byte(tc.in), mem)
			checkErr(t, err, tc.want)
			if !strings.Contains(err.Error(), "test.arrows") {
				t.Errorf("error %q does not name the input", err)
			}
		})
	}
}

func TestWrongColumnTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, tc := range []struct {
		name   string
		fields []arrow.Field
		want   string
	}{
		{"int64 ids", []arrow.Field{
			{Name: ColID, Type: arrow.BinaryTypes.String},
			{Name: ColPromptInputIDs, Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)},
			{Name: ColChosenInputIDs, Type: TokenIDs},
			{Name: ColRejectedInputIDs, Type: TokenIDs},
		}, `column "prompt_input_ids": has type list<item: int64, nullable>, want list<int32>`},
		{"missing rejected", []arrow.Field{
			{Name: ColID, Type: arrow.BinaryTypes.String},
			{Name: ColPromptInputIDs, Type: TokenIDs},
			{Name: ColChosenInputIDs, Type: TokenIDs},
		}, `column "rejected_input_ids": missing (columns: [id prompt_input_ids chosen_input_ids])`},
		{"binary id", []arrow.Field{
			{Name: ColID, Type: arrow.BinaryTypes.Binary},
			{Name: ColPromptInputIDs, Type: TokenIDs},
			{Name: ColChosenInputIDs, Type: TokenIDs},
			{Name: ColRejectedInputIDs, Type: TokenIDs},
		}, `column "id": has type binary, want utf8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := testMeta().Arrow()
			schema := arrow.NewSchema(tc.fields, &md)
			b := array.NewRecordBuilder(mem, schema)
			defer b.Release()
			for i := range tc.fields {
				b.Field(i).AppendEmptyValue()
			}
			rec := b.NewRecordBatch()
			var buf bytes.Buffer
			w, err := NewWriter(&buf, schema, WriterOptions{Mem: mem})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(&buf, "bad.arrows", mem)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			err = r.RequirePairs()
			checkErr(t, err, tc.want)
			if !strings.HasPrefix(err.Error(), "arrowio: bad.arrows: ") {
				t.Errorf("RequirePairs error %q does not name the input first", err)
			}
			if !r.Next() {
				t.Fatal(r.Err())
			}
			_, err = r.Pairs()
			checkErr(t, err, "bad.arrows: batch 0: "+tc.want)
		})
	}
}

func TestWriterErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := PairsSchema(testMeta())
	if _, err := NewWriter(io.Discard, schema, WriterOptions{Codec: "gzip"}); err == nil || !strings.Contains(err.Error(), `unknown codec "gzip"`) {
		t.Errorf("unknown codec: %v", err)
	}
	other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := NewWriter(io.Discard, schema, WriterOptions{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, other)
	b.Field(0).(*array.Int64Builder).Append(1)
	rec := b.NewRecordBatch()
	b.Release()
	err = w.Write(rec)
	rec.Release()
	checkErr(t, err, "does not match the stream schema")
	checkErr(t, w.Close(), "does not match the stream schema")

	// A failing sink: the first error is kept and returned by Close.
	w, err = NewWriter(failWriter{}, schema, WriterOptions{Mem: mem, BatchRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	rec = buildRecord(t, mem, schema, genRows(5, 1))
	err = w.Write(rec)
	rec.Release()
	checkErr(t, err, "disk full")
	checkErr(t, w.Close(), "disk full")
	checkErr(t, w.Write(rec), "disk full")
}

// TestBatchBytesCap: rows so long that BatchRows of them would exceed the
// byte cap are written in smaller batches.
func TestBatchBytesCap(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(40, 13)
	for i := range rows {
		rows[i].prompt = make([]int32, 1000) // ~4 KB per row
	}
	schema := PairsSchema(testMeta())
	var buf bytes.Buffer
	w, err := NewWriter(&buf, schema, WriterOptions{Mem: mem, BatchRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	w.maxBytes = 40 << 10 // about 10 rows
	for off := 0; off < 40; off += 7 {
		rec := buildRecord(t, mem, schema, rows[off:min(off+7, 40)])
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, sizes, _, err := readStream(t, buf.Bytes(), mem)
	if err != nil {
		t.Fatal(err)
	}
	diffRows(t, got, rows)
	for i, s := range sizes {
		if s > 10 || (s < 5 && i < len(sizes)-1) {
			t.Errorf("batch sizes %v: want about 10 rows each under the byte cap", sizes)
			break
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestMetadataPropagation runs tokenize -> reflogp: the second stage copies
// the metadata forward, adds its keys and columns, and the result carries
// both stages' keys.
func TestMetadataPropagation(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(30, 6)
	stage1 := writeStream(t, mem, testMeta(), rows, 30, WriterOptions{BatchRows: 8})

	r, err := NewReader(bytes.NewReader(stage1), "pairs.arrows", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if err := r.Metadata().CheckSameTokenizer("Qwen/Qwen3", HashString("tokenizer.json bytes")); err != nil {
		t.Fatal(err)
	}
	meta := Derive(r.Metadata(), "dpo-reflogp", "v9")
	if err := meta.SetStage(StageReflogp, "v9", struct {
		Model string `json:"model"`
		Dtype string `json:"dtype"`
	}{"Qwen/Qwen3-0.6B", "float32"}); err != nil {
		t.Fatal(err)
	}
	schema := RefLogpsSchema(meta)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, schema, WriterOptions{Mem: mem, BatchRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for r.Next() {
		rec := r.Record()
		lp := make([]array.Builder, 2)
		cols := make([]arrow.Array, 2)
		for k := range lp {
			fb := array.NewFloat64Builder(mem)
			for i := 0; i < int(rec.NumRows()); i++ {
				fb.Append(-float64(n+i) - float64(k)/2)
			}
			cols[k] = fb.NewArray()
			fb.Release()
		}
		out, err := AppendColumns(schema, rec, cols...)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cols {
			c.Release()
		}
		if err := w.Write(out); err != nil {
			t.Fatal(err)
		}
		out.Release()
		n += int(rec.NumRows())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r2, err := NewReader(&buf, "ref.arrows", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Release()
	m := r2.Metadata()
	if tool, v := m.Producer(); tool != "dpo-reflogp" || v != "v9" {
		t.Errorf("producer %s %s", tool, v)
	}
	var tokOpts struct {
		MaxLength int    `json:"max_length"`
		Mode      string `json:"truncation_mode"`
	}
	if err := m.StageOptions(StageTokenize, &tokOpts); err != nil || tokOpts.MaxLength != 1024 || tokOpts.Mode != "keep_end" {
		t.Errorf("tokenize options carried forward: %+v, %v", tokOpts, err)
	}
	if got, _ := m.Get(StageOptionsKey(StageReflogp)); got != `{"model":"Qwen/Qwen3-0.6B","dtype":"float32"}` {
		t.Errorf("reflogp options %s", got)
	}
	if m.StageVersion(StageTokenize) != "v0.0.0-test" || m.ChatTemplateSHA256() != testMeta().ChatTemplateSHA256() {
		t.Errorf("upstream keys lost:\n%s", m)
	}
	if err := r2.RequireColumns(arrow.Field{Name: ColRefChosenLogps, Type: arrow.PrimitiveTypes.Float64}); err != nil {
		t.Error(err)
	}
	var got []float64
	for r2.Next() {
		v, err := Float64Column(r2.Record(), ColRefRejectedLogps)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v...)
		if _, err := Float64Column(r2.Record(), ColID); err == nil || !strings.Contains(err.Error(), `column "id": has type utf8, want float64`) {
			t.Errorf("Float64Column(id): %v", err)
		}
	}
	if err := r2.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 || got[0] != -0.5 || got[29] != -29.5 {
		t.Errorf("ref_rejected_logps %v", got)
	}
}

func TestTotalRowsKeyIsDecimal(t *testing.T) {
	// Guard the documented marker encoding.
	if _, err := strconv.ParseInt("0", 10, 64); err != nil || KeyTotalRows != "dpo.num_rows" || KeyEndMarker != "dpo.end" {
		t.Fatal("end marker keys changed: update docs/format.md and FormatVersion")
	}
}
