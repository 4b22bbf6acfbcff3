package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/ckpt"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// nanModel is randomModel with one NaN in the final norm's scale.
func nanModel(t *testing.T) string {
	t.Helper()
	cfg, err := model.LoadConfig(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	ck := model.RandomInit(cfg, 1)
	w := ck.Tensors["model.norm.weight"]
	if w == nil {
		t.Fatal("no model.norm.weight")
	}
	binary.LittleEndian.PutUint32(w.Data[0:4], math.Float32bits(float32(math.NaN())))
	dir := t.TempDir()
	if err := model.Save(dir, ck, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	if err := ckpt.Write(dir, ckpt.Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A NaN weight makes dpo-reflogp (and dpo-score, same path) fail naming the
// row, instead of writing NaN log-probs with exit 0.
func TestReflogpNaNWeight(t *testing.T) {
	dir := nanModel(t)
	in := tokenizeExample(t, 3)
	out := filepath.Join(t.TempDir(), "ref.arrow")
	err := Reflogp(context.Background(), []string{"--model", dir, "-q", "-o", out}, bytes.NewReader(in), io.Discard, io.Discard)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "row 0") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("err %v (exit %d), want exit 1 naming row 0 and NaN", err, ExitCode(err))
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Error("output written")
	}
	err = Score(context.Background(), []string{"--policy", dir, "-q", "--reference-free", "true"}, bytes.NewReader(in), io.Discard, io.Discard)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("score: err %v", err)
	}
}

// rewriteColumn copies stream in, replacing column col's row 'row' (of the
// whole stream) with x.
func rewriteColumn(t *testing.T, in []byte, col string, row int, x float64) []byte {
	t.Helper()
	mem := memory.NewGoAllocator()
	r, err := arrowio.NewReader(bytes.NewReader(in), "in", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var out bytes.Buffer
	w, err := arrowio.NewWriter(&out, r.Schema(), arrowio.WriterOptions{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	base := 0
	for r.Next() {
		rec := r.Record()
		cols := make([]arrow.Array, rec.NumCols())
		for i := range cols {
			cols[i] = rec.Column(i)
			if rec.ColumnName(i) == col {
				v := append([]float64(nil), cols[i].(*array.Float64).Float64Values()...)
				if row >= base && row < base+len(v) {
					v[row-base] = x
				}
				b := array.NewFloat64Builder(mem)
				b.AppendValues(v, nil)
				cols[i] = b.NewArray()
				defer cols[i].Release()
			}
		}
		base += int(rec.NumRows())
		nr := array.NewRecordBatch(r.Schema(), cols, rec.NumRows())
		if err := w.Write(nr); err != nil {
			t.Fatal(err)
		}
		nr.Release()
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// dpo-score refuses the reference log-probs dpo-train refuses (NaN, ±Inf,
// positive), naming the row and id, exit 1, and writes no summary.
func TestScoreRejectsBadReference(t *testing.T) {
	dir := randomModel(t, 3)
	ref := refStream(t, dir, 12)
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0.5} {
		for _, col := range []string{arrowio.ColRefChosenLogps, arrowio.ColRefRejectedLogps} {
			bad := rewriteColumn(t, ref, col, 9, x)
			sum := filepath.Join(t.TempDir(), "s.json")
			err := Score(context.Background(), []string{"--policy", dir, "-q", "--summary", sum, "--batch-tokens", "512"}, bytes.NewReader(bad), io.Discard, io.Discard)
			if ExitCode(err) != 1 || !strings.Contains(err.Error(), col) || !strings.Contains(err.Error(), `id "heldout-0009"`) {
				t.Errorf("%s=%v: err %v, want exit 1 naming the column and heldout-0009", col, x, err)
			}
			if _, statErr := os.Stat(sum); statErr == nil {
				t.Errorf("%s=%v: summary written", col, x)
			}
		}
	}
}

// A summary that JSON cannot hold is an error, not an empty file.
func TestWriteJSONOutputNaN(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	o, err := arrowio.CreateOutput(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Abort()
	if err := writeJSONOutput(o, "--summary", &ScoreSummary{Accuracy: math.NaN()}); err == nil {
		t.Fatal("NaN summary written without error")
	}
}

// --format jsonl writes whole lines: when the run fails midway, what already
// reached stdout ends with a newline.
func TestJSONLWholeLines(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var stdout bytes.Buffer
	o, err := arrowio.CreateOutput("-", &stdout)
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	sink := &jsonlSink{w: arrowio.NewLineWriter(o), schema: schema}
	b := array.NewStringBuilder(mem)
	for i := range 5000 {
		b.Append(strings.Repeat("x", 100+i%37))
	}
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
	col.Release()
	for range 5 { // > 2 MiB: the buffer flushes at least once
		if err := sink.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	rec.Release()
	o.Abort() // the failure: nothing more is flushed
	if stdout.Len() == 0 {
		t.Fatal("nothing flushed: the test does not exercise a mid-stream flush")
	}
	if !bytes.HasSuffix(stdout.Bytes(), []byte("\n")) {
		t.Errorf("stdout ends in half a line: ...%q", stdout.Bytes()[stdout.Len()-20:])
	}
}
