package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// completionsFromPairs writes a completions stream with two rows per pair
// (sample 0 the chosen completion, sample 1 the rejected one), under the
// pairs stream's metadata plus dpo.kind=completions.
func completionsFromPairs(t testing.TB, pairs []goldenPair, meta arrowio.Metadata, batchRows int) []byte {
	t.Helper()
	rows := make([]arrowio.Completion, 0, 2*len(pairs))
	for _, p := range pairs {
		for k, c := range [][]int32{p.Chosen, p.Rejected} {
			rows = append(rows, arrowio.Completion{ID: p.ID, SampleIndex: int32(k), Prompt: "p " + p.ID, Completion: fmt.Sprint("c", k),
				PromptIDs: p.Prompt, CompletionIDs: c, Logp: -1, FinishReason: arrowio.FinishEOS})
		}
	}
	return writeCompletions(t, meta, rows, batchRows, nil)
}

// writeCompletions writes rows as a completions stream; extra, when not
// nil, adds float64 columns (name -> one value per row).
func writeCompletions(t testing.TB, meta arrowio.Metadata, rows []arrowio.Completion, batchRows int, extra map[string][]float64) []byte {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrowio.CompletionsSchema(meta)
	b, err := arrowio.NewCompletionBuilder(mem, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	for _, r := range rows {
		b.Append(r)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var names []string
	for _, n := range []string{arrowio.ColRefLogp, arrowio.ColScore} {
		if _, ok := extra[n]; ok {
			names = append(names, n)
		}
	}
	if len(names) != len(extra) {
		t.Fatalf("writeCompletions: extra columns %v: only ref_logp and score", extra)
	}
	if len(names) > 0 {
		var fields []arrow.Field
		arrs := make([]arrow.Array, len(names))
		for i, n := range names {
			fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64})
			arrs[i] = float64Array(mem, extra[n])
		}
		if schema, err = arrowio.AppendFields(schema, fields...); err != nil {
			t.Fatal(err)
		}
		out, err := arrowio.AppendColumns(schema, rec, arrs...)
		for _, a := range arrs {
			a.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		defer out.Release()
		rec = out
	}
	var buf bytes.Buffer
	w, err := arrowio.NewWriter(&buf, schema, arrowio.WriterOptions{Mem: mem, BatchRows: batchRows})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReflogpCompletions checks that dpo-reflogp on a completions stream
// gives each row the log-prob that a pairs stream gives the same prompt and
// completion tokens (the chosen and rejected of the same pairs), keeps every
// column, and refuses --ld-alpha.
func TestReflogpCompletions(t *testing.T) {
	dir := randomModel(t, 3)
	in := tokenizeExample(t, 24)
	pairs, meta := readPairsStream(t, in)
	var ref, errb bytes.Buffer
	if err := Reflogp(context.Background(), []string{"--model", dir, "--batch-tokens", "256", "-q"}, bytes.NewReader(in), &ref, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	refCols := readFloatCols(t, ref.Bytes(), arrowio.ColRefChosenLogps, arrowio.ColRefRejectedLogps)
	refChosen, refRejected := refCols[0], refCols[1]
	comp := completionsFromPairs(t, pairs, meta, 5)
	var out bytes.Buffer
	errb.Reset()
	if err := Reflogp(context.Background(), []string{"--model", dir, "--batch-tokens", "128", "-q"}, bytes.NewReader(comp), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	got := readFloatCols(t, out.Bytes(), arrowio.ColRefLogp)[0]
	if len(got) != 2*len(pairs) {
		t.Fatalf("%d rows, want %d", len(got), 2*len(pairs))
	}
	for i := range pairs {
		for k, want := range []float64{refChosen[i], refRejected[i]} {
			g := got[2*i+k]
			if math.Abs(g-want) > 1e-6*max(1, math.Abs(want)) {
				t.Errorf("pair %d (%s) sample %d: ref_logp %v, pairs stream %v", i, pairs[i].ID, k, g, want)
			}
		}
	}
	names, m := streamColumns(t, out.Bytes())
	if want := "id,sample_index,prompt,completion,prompt_input_ids,completion_input_ids,logp,finish_reason,ref_logp"; names != want {
		t.Errorf("columns %s, want %s", names, want)
	}
	if !m.IsCompletions() || m.StageVersion(arrowio.StageReflogp) == "" {
		t.Errorf("metadata lost dpo.kind or lacks the reflogp stage: %v", m)
	}
	err := Reflogp(context.Background(), []string{"--model", dir, "--ld-alpha", "0.5"}, bytes.NewReader(comp), io.Discard, io.Discard)
	if _, ok := err.(*UsageError); !ok || !strings.Contains(err.Error(), "completions stream") {
		t.Errorf("--ld-alpha on completions: %v", err)
	}
	err = Reflogp(context.Background(), []string{"--model", dir}, bytes.NewReader(out.Bytes()), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "already has a ref_logp column") {
		t.Errorf("reflogp twice: %v", err)
	}
	// An empty completion is an error naming the row.
	bad := writeCompletions(t, meta, []arrowio.Completion{{ID: "x", SampleIndex: 2, PromptIDs: []int32{1, 2}}}, 0, nil)
	err = Reflogp(context.Background(), []string{"--model", dir}, bytes.NewReader(bad), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `row 0 (id "x", sample 2): completion_input_ids is empty`) {
		t.Errorf("empty completion: %v", err)
	}
}

// readFloatCols reads float64 columns of a stream.
func readFloatCols(t testing.TB, data []byte, names ...string) [][]float64 {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.NewReader(bytes.NewReader(data), "out", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	out := make([][]float64, len(names))
	for r.Next() {
		for i, n := range names {
			v, err := arrowio.Float64Column(r.Record(), n)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = append(out[i], v...)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// streamColumns returns a stream's column names, comma-separated, and its
// metadata.
func streamColumns(t testing.TB, data []byte) (string, arrowio.Metadata) {
	t.Helper()
	r, err := arrowio.NewReader(bytes.NewReader(data), "out", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var names []string
	for _, f := range r.Schema().Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ","), r.Metadata()
}
