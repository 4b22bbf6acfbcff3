package pairs

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// hfMessages is the type Hugging Face datasets infers for message lists
// (struct fields in alphabetical order).
var hfMessages = arrow.ListOf(arrow.StructOf(
	arrow.Field{Name: "content", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "role", Type: arrow.BinaryTypes.String, Nullable: true},
))

var chatSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "prompt", Type: hfMessages, Nullable: true},
	{Name: "chosen", Type: hfMessages, Nullable: true},
	{Name: "rejected", Type: hfMessages, Nullable: true},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// Two batches, so that row numbers continue across batches.
var chatBatches = []string{`[
{"id": 10, "prompt": [{"content": "Q", "role": "user"}], "chosen": [{"content": "A", "role": "assistant"}], "rejected": [{"content": "B", "role": "assistant"}], "score": 1.5},
{"id": null, "prompt": null, "chosen": [{"content": "Q", "role": "user"}, {"content": "A", "role": "assistant"}], "rejected": [{"content": "Q", "role": "user"}, {"content": "B", "role": "assistant"}]},
{"id": 12, "prompt": [{"content": "Q", "role": "user"}], "chosen": null, "rejected": [{"content": "B", "role": "assistant"}]},
{"id": 13, "prompt": [{"content": "Q", "role": "user"}], "chosen": [], "rejected": [{"content": "B", "role": "assistant"}]}
]`, `[
{"id": 14, "prompt": [{"content": "Q", "role": "user"}], "chosen": [{"content": "A", "role": "assistant"}, {"content": null, "role": "assistant"}], "rejected": [{"content": "B", "role": "assistant"}]},
{"id": 15, "prompt": [{"content": "Q", "role": "user"}], "chosen": [null], "rejected": [{"content": "B", "role": "assistant"}]},
{"id": 16, "prompt": [{"content": "Q", "role": "user"}], "chosen": [{"content": "A", "role": "assistant"}], "rejected": [{"content": "x", "role": ""}]},
{"id": -17, "prompt": [{"content": "Q2", "role": "user"}], "chosen": [{"content": "A2", "role": "assistant"}], "rejected": [{"content": "B2", "role": null}]},
{"id": 18, "prompt": [{"content": "Q3", "role": "user"}], "chosen": [{"content": "A3", "role": "assistant"}], "rejected": [{"content": "B3", "role": "assistant"}]}
]`}

var chatWant = []want{
	ok(Example{ID: "10", Row: 0, Prompt: m("user", "Q"), Chosen: m("assistant", "A"), Rejected: m("assistant", "B")}),
	ok(Example{ID: "1", Row: 1, Prompt: m("user", "Q"), Chosen: m("assistant", "A"), Rejected: m("assistant", "B"), ImplicitPrompt: true}),
	rowErr("chosen", ErrMissing, `: row 2: field "chosen": is null`),
	rowErr("chosen", ErrEmpty, "empty list of messages"),
	rowErr("chosen[1].content", ErrMissing, "is null"),
	rowErr("chosen[0]", ErrMissing, "message is null"),
	rowErr("rejected[0].role", ErrEmpty, "empty role"),
	rowErr("rejected[0].role", ErrMissing, "is null"),
	ok(Example{ID: "18", Row: 8, Prompt: m("user", "Q3"), Chosen: m("assistant", "A3"), Rejected: m("assistant", "B3")}),
}

func chatRecords(t testing.TB, mem memory.Allocator) []arrow.RecordBatch {
	t.Helper()
	var recs []arrow.RecordBatch
	for _, js := range chatBatches {
		rec, _, err := array.RecordFromJSON(mem, chatSchema, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

var textSchema = arrow.NewSchema([]arrow.Field{
	{Name: "prompt", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "chosen", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "rejected", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

var textWant = []want{
	ok(Example{ID: "a", Row: 0, Prompt: s("The sky is"), Chosen: s(" blue."), Rejected: s(" green.")}),
	ok(Example{ID: "1", Row: 1, Prompt: s("The sky is"), Chosen: s(" blue."), Rejected: s(" green."), ImplicitPrompt: true}),
	rowErr("chosen", ErrEmpty, "empty completion"),
	rowErr("rejected", ErrInvalidUTF8, `field "rejected": invalid UTF-8 (byte 0xff at offset 1 of the string)`),
	rowErr("", ErrNoPrompt, "identical"),
	ok(Example{ID: "e", Row: 5, Prompt: s("日本"), Chosen: s("語"), Rejected: s("人")}),
}

// textRecords builds the rows with builders: RecordFromJSON cannot carry
// invalid UTF-8.
func textRecords(t testing.TB, mem memory.Allocator) []arrow.RecordBatch {
	t.Helper()
	type row struct{ prompt, chosen, rejected, id *string }
	p := func(s string) *string { return &s }
	rows := []row{
		{p("The sky is"), p(" blue."), p(" green."), p("a")},
		{nil, p("The sky is blue."), p("The sky is green."), nil},
		{p("x"), p(""), p("b"), nil},
		{p("x"), p("a"), p("a\xffb"), p("d")},
		{nil, p("same"), p("same"), nil},
		{p("日本"), p("語"), p("人"), p("e")},
	}
	b := array.NewRecordBuilder(mem, textSchema)
	defer b.Release()
	var recs []arrow.RecordBatch
	for i, r := range rows {
		for j, v := range []*string{r.prompt, r.chosen, r.rejected, r.id} {
			switch fb := b.Field(j).(type) {
			case *array.LargeStringBuilder:
				if v == nil {
					fb.AppendNull()
				} else {
					fb.Append(*v)
				}
			case *array.StringBuilder:
				if v == nil {
					fb.AppendNull()
				} else {
					fb.Append(*v)
				}
			}
		}
		if i == 2 || i == len(rows)-1 {
			recs = append(recs, b.NewRecordBatch())
		}
	}
	return recs
}

// writeAll writes recs with w and closes it.
func writeAll(t testing.TB, w interface {
	Write(arrow.RecordBatch) error
	Close() error
}, recs []arrow.RecordBatch) {
	t.Helper()
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeParquet(t testing.TB, mem memory.Allocator, sc *arrow.Schema, recs []arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &buf,
		parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithMaxRowGroupLength(2)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, recs)
	return buf.Bytes()
}

func writeArrowFile(t testing.TB, mem memory.Allocator, sc *arrow.Schema, recs []arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(sc), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, recs)
	return buf.Bytes()
}

func writeArrowStream(t testing.TB, mem memory.Allocator, sc *arrow.Schema, recs []arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sc), ipc.WithAllocator(mem), ipc.WithZstd())
	writeAll(t, w, recs)
	return buf.Bytes()
}

type container struct {
	name  string
	ext   string
	write func(testing.TB, memory.Allocator, *arrow.Schema, []arrow.RecordBatch) []byte
}

var containers = []container{
	{"parquet", "parquet", writeParquet},
	{"arrow file", "arrow", writeArrowFile},
	{"arrow stream", "arrows", writeArrowStream},
}

// TestArrowContainers reads the same rows from Parquet, Arrow IPC files and
// Arrow IPC streams: from a file, from stdin, and zstd-compressed, with the
// format sniffed or given.
func TestArrowContainers(t *testing.T) {
	for _, ds := range []struct {
		name string
		sc   *arrow.Schema
		recs func(testing.TB, memory.Allocator) []arrow.RecordBatch
		want []want
	}{
		{"chat", chatSchema, chatRecords, chatWant},
		{"text", textSchema, textRecords, textWant},
	} {
		for _, c := range containers {
			t.Run(ds.name+"/"+c.name, func(t *testing.T) {
				wmem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer wmem.AssertSize(t, 0)
				recs := ds.recs(t, wmem)
				data := c.write(t, wmem, ds.sc, recs)
				for _, r := range recs {
					r.Release()
				}
				format := c.ext
				if format == "arrows" {
					format = "arrow"
				}
				dir := t.TempDir()
				for _, v := range []struct {
					name, path, format string
					data               []byte
				}{
					{"file", "data." + c.ext, "", data},
					{"file format given", "data." + c.ext, format, data},
					{"file zstd", "data." + c.ext + ".zst", "", zst(t, data)},
					{"stdin", "-", "", data},
					{"stdin gzip", "-", "", gz(t, data)},
				} {
					t.Run(v.name, func(t *testing.T) {
						mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
						defer mem.AssertSize(t, 0)
						path, file, in := v.path, v.path, io.Reader(nil)
						if v.path == "-" {
							file, in = StdinName, bytes.NewReader(v.data)
						} else {
							path = writeFile(t, dir, v.path, v.data)
							file = path
						}
						r, err := Open(path, in, Options{Format: v.format, Mem: mem})
						if err != nil {
							t.Fatal(err)
						}
						gots, err := readAll(t, r)
						if err != nil {
							t.Fatal(err)
						}
						if err := r.Close(); err != nil {
							t.Fatal(err)
						}
						check(t, file, gots, ds.want, false)
					})
				}
			})
		}
	}
}

func TestArrowSchemaErrors(t *testing.T) {
	str := arrow.BinaryTypes.String
	for _, tc := range []struct {
		name   string
		fields []arrow.Field
		msg    string
	}{
		{"missing chosen", []arrow.Field{{Name: "prompt", Type: str}, {Name: "rejected", Type: str}}, `missing column "chosen" (columns: prompt, rejected)`},
		{"missing rejected", []arrow.Field{{Name: "chosen", Type: str}}, `missing column "rejected"`},
		{"int chosen", []arrow.Field{{Name: "chosen", Type: arrow.PrimitiveTypes.Int64}, {Name: "rejected", Type: str}}, `column "chosen" has unsupported type int64`},
		{"list of strings", []arrow.Field{{Name: "chosen", Type: str}, {Name: "rejected", Type: arrow.ListOf(str)}}, `column "rejected" has unsupported type list<`},
		{"struct without content", []arrow.Field{{Name: "chosen", Type: str}, {Name: "rejected", Type: str},
			{Name: "prompt", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "role", Type: str}))}}, `column "prompt" has unsupported type`},
		{"float id", []arrow.Field{{Name: "chosen", Type: str}, {Name: "rejected", Type: str}, {Name: "id", Type: arrow.PrimitiveTypes.Float64}}, `column "id" has unsupported type float64`},
	} {
		for _, c := range containers {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				sc := arrow.NewSchema(tc.fields, nil)
				b := array.NewRecordBuilder(mem, sc)
				rec := b.NewRecordBatch() // zero rows
				b.Release()
				data := c.write(t, mem, sc, []arrow.RecordBatch{rec})
				rec.Release()
				r, err := Open("-", bytes.NewReader(data), Options{Mem: mem})
				if err == nil {
					r.Close()
					t.Fatal("no error")
				}
				var re *RowError
				if errors.As(err, &re) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), StdinName) {
					t.Errorf("got %v, want a fatal error containing %q", err, tc.msg)
				}
			})
		}
	}
}

// TestArrowMoreTypes covers dictionary strings, string views, large lists,
// unsigned ids and an empty input.
func TestArrowMoreTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dictStr := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	msgs := arrow.LargeListOf(arrow.StructOf(
		arrow.Field{Name: "role", Type: dictStr, Nullable: true},
		arrow.Field{Name: "content", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		arrow.Field{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	))
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "chosen", Type: msgs, Nullable: true},
		{Name: "rejected", Type: msgs, Nullable: true},
		{Name: "prompt", Type: arrow.BinaryTypes.StringView, Nullable: true},
	}, nil)
	js := `[{"id": 18446744073709551615, "prompt": "ignored: TRL extracts instead",
	  "chosen": [{"role": "user", "content": "Q", "name": "n"}, {"role": "assistant", "content": "A"}],
	  "rejected": [{"role": "user", "content": "Q", "name": "n"}, {"role": "assistant", "content": "B"}]}]`
	rec, _, err := array.RecordFromJSON(mem, sc, strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	data := writeArrowStream(t, mem, sc, []arrow.RecordBatch{rec})
	empty := writeArrowStream(t, mem, sc, nil)
	rec.Release()
	r, err := Open("-", bytes.NewReader(data), Options{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	gots, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	check(t, StdinName, gots, []want{ok(Example{ID: "18446744073709551615", Prompt: m("user", "Q"), Chosen: m("assistant", "A"), Rejected: m("assistant", "B"), ImplicitPrompt: true})}, false)

	r, err = Open("-", bytes.NewReader(empty), Options{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	r.Close()
}

// TestParquetEmpty reads a Parquet file with the right columns and no rows.
func TestParquetEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	data := writeParquet(t, mem, textSchema, nil)
	r, err := Open("-", bytes.NewReader(data), Options{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("got %v, want io.EOF", err)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}

// A truncated Parquet or Arrow file is a fatal error, never a panic.
func TestArrowCorrupt(t *testing.T) {
	for _, c := range containers {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			recs := chatRecords(t, mem)
			data := c.write(t, mem, chatSchema, recs)
			for _, r := range recs {
				r.Release()
			}
			for _, cut := range []int{len(data) / 3, len(data) / 2, len(data) - 10} {
				r, err := Open("-", bytes.NewReader(data[:cut]), Options{Mem: mem})
				if err != nil {
					continue
				}
				_, err = readAll(t, r)
				r.Close()
				var re *RowError
				if err == nil || errors.As(err, &re) {
					t.Errorf("cut at %d: got %v, want a fatal error", cut, err)
				}
			}
		})
	}
}
