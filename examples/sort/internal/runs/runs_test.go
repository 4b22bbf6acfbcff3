package runs

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

func TestReadJudged(t *testing.T) {
	j, err := ReadJudged(strings.NewReader("{\"score\":1}\n\n{\"score\":0.5}\n{\"score\":0}\n{\"score\":1,\"x\":2}\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if j.N != 4 || j.Exact != 2 || j.Accuracy() != 0.5 || j.MeanScore() != 0.625 {
		t.Errorf("got %+v (accuracy %g, mean %g), want 4 rows, 2 exact, 0.5, 0.625", j, j.Accuracy(), j.MeanScore())
	}
	if _, err := ReadJudged(strings.NewReader("{\"score\":1}\n{\"id\":\"x\"}\n"), "j.jsonl"); err == nil || !strings.Contains(err.Error(), "j.jsonl line 2") {
		t.Errorf("a row without a score: %v, want an error naming j.jsonl line 2", err)
	}
}

// Hand-computed: ratios 0.5, 1.5, -0.5, 2.5 have mean 1, sample variance
// (0.25+0.25+2.25+2.25)/3 = 5/3, standard error sqrt(5/3/4) = 0.6455.
func TestEstimateKL(t *testing.T) {
	k, err := EstimateKL([]float64{0.5, 1.5, -0.5, 2.5})
	if err != nil {
		t.Fatal(err)
	}
	if k.N != 4 || math.Abs(k.Mean-1) > 1e-12 || math.Abs(k.StdErr-math.Sqrt(5.0/12)) > 1e-12 {
		t.Errorf("got %+v, want n 4, mean 1, stderr %g", k, math.Sqrt(5.0/12))
	}
	if _, err := EstimateKL(nil); err == nil {
		t.Error("no samples: no error")
	}
}

func TestSummaryShifts(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "after.json")
	os.WriteFile(p, []byte(`{"pairs":400,"beta":0.5,"accuracy":0.9,"mean_reward_chosen":0.25,"mean_reward_rejected":-1.5,"mean_margin":1.75,"worst":[]}`), 0o644)
	s, err := ReadSummaryFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Accuracy != 0.9 || s.ChosenShift() != 0.5 || s.RejectedShift() != -3 {
		t.Errorf("got %+v, shifts %g %g; want accuracy 0.9, shifts 0.5, -3", s, s.ChosenShift(), s.RejectedShift())
	}
	os.WriteFile(p, []byte(`{"pairs":0,"beta":0.5}`), 0o644)
	if _, err := ReadSummaryFile(p); err == nil {
		t.Error("a summary of no pairs accepted")
	}
}

// writeRatios writes an Arrow IPC file with logp and ref_logp columns, as
// dpo-reflogp leaves a completions stream (the other columns are not read).
func writeRatios(t *testing.T, path string, logp, ref []float64) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "logp", Type: arrow.PrimitiveTypes.Float64},
		{Name: "ref_logp", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	schema = arrowio.WithMetadata(schema, arrowio.NewMetadata("runs-test", "0"))
	mem := memory.NewGoAllocator()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Float64Builder).AppendValues(logp, nil)
	b.Field(1).(*array.Float64Builder).AppendValues(ref, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLogRatios(t *testing.T) {
	p := filepath.Join(t.TempDir(), "samples-ref.arrow")
	writeRatios(t, p, []float64{-1, -2.5, -0.25}, []float64{-1.5, -2, -0.25})
	got, err := LogRatios(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.5, -0.5, 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %g, want %g", i, got[i], want[i])
		}
	}
	writeRatios(t, p, []float64{-1, math.Inf(-1)}, []float64{-1, -2})
	if _, err := LogRatios(p); err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("an infinite logp in row 1: %v, want an error naming row 1", err)
	}
}
