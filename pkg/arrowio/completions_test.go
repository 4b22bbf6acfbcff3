package arrowio

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestCompletionsSchemaColumns(t *testing.T) {
	s := CompletionsSchema(testMeta())
	want := []string{"id", "sample_index", "prompt", "completion", "prompt_input_ids", "completion_input_ids", "logp", "finish_reason"}
	if got := columnNames(s); !slices.Equal(got, want) {
		t.Fatalf("columns %v, want %v", got, want)
	}
	wantTypes := []string{"utf8", "int32", "utf8", "utf8", "list<int32>", "list<int32>", "float64", "utf8"}
	for i, w := range wantTypes {
		if got := typeString(s.Field(i).Type); got != w {
			t.Errorf("column %s has type %s, want %s", want[i], got, w)
		}
	}
	m := MetadataFromArrow(s.Metadata())
	if !m.IsCompletions() || m.FormatVersion() != FormatVersion {
		t.Errorf("metadata %v lacks dpo.kind=completions or the format version", m)
	}
	if tok, _ := m.Tokenizer(); tok != "qwen3" {
		t.Errorf("tokenizer name %q not carried", tok)
	}
	if MetadataFromArrow(PairsSchema(testMeta()).Metadata()).IsCompletions() {
		t.Error("a pairs schema says it holds completions")
	}
}

func TestCompletionsRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := []Completion{
		{ID: "p1", SampleIndex: 0, Prompt: "sort 3 1 2", Completion: "1 2 3", PromptIDs: []int32{5, 6, 7}, CompletionIDs: []int32{8, 9, 2}, Logp: -1.5, FinishReason: FinishEOS},
		{ID: "p1", SampleIndex: 1, Prompt: "sort 3 1 2", Completion: "", PromptIDs: []int32{5, 6, 7}, CompletionIDs: nil, Logp: 0, FinishReason: FinishLength},
		{ID: "é2", SampleIndex: 0, Prompt: `[{"role":"user","content":"hi"}]`, Completion: "yo", PromptIDs: []int32{1}, CompletionIDs: []int32{4, 4}, Logp: -7.25, FinishReason: FinishStop},
	}
	schema := CompletionsSchema(testMeta())
	b, err := NewCompletionBuilder(mem, schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		b.Append(r)
	}
	rec := b.NewRecordBatch()
	b.Release()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, schema, WriterOptions{Mem: mem, BatchRows: 2})
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

	r, err := NewReader(bytes.NewReader(buf.Bytes()), "c.arrows", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Metadata().IsCompletions() {
		t.Error("read metadata lacks dpo.kind")
	}
	if err := r.RequireCompletions(); err != nil {
		t.Fatal(err)
	}
	if err := r.RequirePairs(); err == nil {
		t.Error("a completions stream passes RequirePairs")
	}
	var got []Completion
	for r.Next() {
		rec := r.Record()
		c, err := ReadCompletions(rec)
		if err != nil {
			t.Fatal(err)
		}
		prompt, _ := StringColumn(rec, ColPrompt)
		comp, _ := StringColumn(rec, ColCompletion)
		fin, _ := StringColumn(rec, ColFinishReason)
		logp, err := LogProbColumn(rec, ColLogp)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < c.Rows; i++ {
			got = append(got, Completion{ID: c.ID.Value(i), SampleIndex: c.SampleIndex[i], Prompt: prompt.Value(i), Completion: comp.Value(i),
				PromptIDs: slices.Clone(c.Prompt.Row(i)), CompletionIDs: slices.Clone(c.Completion.Row(i)), Logp: logp[i], FinishReason: fin.Value(i)})
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) {
		t.Fatalf("read %d rows, want %d", len(got), len(rows))
	}
	for i := range rows {
		g, w := got[i], rows[i]
		if g.ID != w.ID || g.SampleIndex != w.SampleIndex || g.Prompt != w.Prompt || g.Completion != w.Completion ||
			!slices.Equal(g.PromptIDs, w.PromptIDs) || !slices.Equal(g.CompletionIDs, w.CompletionIDs) || g.Logp != w.Logp || g.FinishReason != w.FinishReason {
			t.Errorf("row %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestReadCompletionsErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// A pairs record lacks sample_index and completion_input_ids.
	rec := buildRecord(t, mem, PairsSchema(testMeta()), genRows(2, 1))
	defer rec.Release()
	if _, err := ReadCompletions(rec); err == nil || !strings.Contains(err.Error(), `"sample_index"`) {
		t.Errorf("ReadCompletions on pairs: %v, want a missing sample_index", err)
	}
	// A null sample_index.
	schema := CompletionsSchema(testMeta())
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("x")
	b.Field(1).(*array.Int32Builder).AppendNull()
	b.Field(2).(*array.StringBuilder).Append("p")
	b.Field(3).(*array.StringBuilder).Append("c")
	for i := 4; i < 6; i++ {
		b.Field(i).(*array.ListBuilder).Append(true)
	}
	b.Field(6).(*array.Float64Builder).Append(-1)
	b.Field(7).(*array.StringBuilder).Append("eos")
	bad := b.NewRecordBatch()
	defer bad.Release()
	if _, err := ReadCompletions(bad); err == nil || !strings.Contains(err.Error(), "row 0 is null") {
		t.Errorf("null sample_index: %v", err)
	}
	if _, err := NewCompletionBuilder(mem, PairsSchema(testMeta())); err == nil {
		t.Error("NewCompletionBuilder accepts a pairs schema")
	}
	var _ arrow.RecordBatch = bad
}
