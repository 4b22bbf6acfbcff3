package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/examples/sort/internal/runs"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Hand-computed: samples scored 1, 0.5, 1, 0 (reward 0.625, exact 0.5);
// log-ratios 0.2, 0.4, 0.6, 1.6 (KL 0.7); β 0.5 with mean rewards 0.1 and
// -0.4 means the chosen log-prob rose 0.2 and the rejected fell 0.8.
func TestPoint(t *testing.T) {
	samples := runs.Judged{N: 4, Exact: 2, Sum: 2.5}
	sum := runs.Summary{Pairs: 400, Beta: 0.5, Accuracy: 0.9, RewardChosen: 0.1, RewardRejected: -0.4}
	greedy := runs.Judged{N: 400, Exact: 300, Sum: 350}
	p, err := point("d", samples, []float64{0.2, 0.4, 0.6, 1.6}, &sum, &greedy)
	if err != nil {
		t.Fatal(err)
	}
	if *p.Beta != 0.5 || !near(p.KL, 0.7) || p.Reward != 0.625 || p.SamplesExact != 0.5 || p.NSamples != 4 ||
		*p.RewardAccuracy != 0.9 || !near(*p.ChosenShift, 0.2) || !near(*p.RejectedShift, -0.8) ||
		*p.GenerationAccuracy != 0.75 || p.Label != "β 0.5" {
		b, _ := json.Marshal(p)
		t.Errorf("got %s", b)
	}
	// KL standard error: deviations -0.5, -0.3, -0.1, 0.9; variance 1.16/3.
	if !near(p.KLErr, math.Sqrt(1.16/3/4)) {
		t.Errorf("kl_stderr %g, want %g", p.KLErr, math.Sqrt(1.16/3/4))
	}
	if _, err := point("d", samples, []float64{0.2}, &sum, nil); err == nil {
		t.Error("4 judged samples and 1 log-ratio accepted")
	}
	ref, err := point("r", samples, []float64{0, 0, 0, 0}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Beta != nil || ref.RewardAccuracy != nil || ref.KL != 0 || ref.Label != "reference" {
		t.Errorf("reference point %+v", ref)
	}
}

func writeRun(t *testing.T, dir string, beta float64, scores, logp, ref []float64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var judged strings.Builder
	for _, s := range scores {
		b, _ := json.Marshal(map[string]any{"id": "x", "score": s})
		judged.Write(append(b, '\n'))
	}
	os.MkdirAll(filepath.Join(dir, "n2"), 0o755)
	os.WriteFile(filepath.Join(dir, "n2", fileSamples), []byte(judged.String()), 0o644)
	if beta > 0 {
		b, _ := json.Marshal(map[string]any{"pairs": 4, "beta": beta, "accuracy": 0.75, "mean_reward_chosen": beta, "mean_reward_rejected": -beta})
		os.WriteFile(filepath.Join(dir, fileSummary), b, 0o644)
	}
	schema := arrowio.WithMetadata(arrow.NewSchema([]arrow.Field{
		{Name: arrowio.ColLogp, Type: arrow.PrimitiveTypes.Float64},
		{Name: arrowio.ColRefLogp, Type: arrow.PrimitiveTypes.Float64},
	}, nil), arrowio.NewMetadata("frontier-test", "0"))
	mem := memory.NewGoAllocator()
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	rb.Field(0).(*array.Float64Builder).AppendValues(logp, nil)
	rb.Field(1).(*array.Float64Builder).AppendValues(ref, nil)
	rec := rb.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(filepath.Join(dir, "n2", fileRatios))
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
	w.Close()
	f.Close()
}

// A tiny sweep: the reference and two β, given out of order.
func TestRun(t *testing.T) {
	root := t.TempDir()
	writeRun(t, filepath.Join(root, "ref"), 0, []float64{1, 0}, []float64{-1, -2}, []float64{-1, -2})
	writeRun(t, filepath.Join(root, "b0.1"), 0.1, []float64{1, 1}, []float64{-0.5, -1}, []float64{-1, -2.5})
	writeRun(t, filepath.Join(root, "b1"), 1, []float64{1, 0.5}, []float64{-1, -1.5}, []float64{-1.25, -1.75})
	os.MkdirAll(filepath.Join(root, "b1", "policy"), 0o755)
	os.WriteFile(filepath.Join(root, "b1", filePolicy), []byte(`{"beta":1,"loss":"sigmoid=1,sft=1"}`), 0o644)
	png := filepath.Join(root, "frontier.png")
	var out, table bytes.Buffer
	err := run(config{ref: filepath.Join(root, "ref"), samples: "n2", png: png, out: "-", dirs: []string{filepath.Join(root, "b0.1"), filepath.Join(root, "b1")}}, &out, &table)
	if err != nil {
		t.Fatal(err)
	}
	var got []Point
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var p Point
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	// ref: KL 0, reward 0.5; β 1: KL 0.25, reward 0.75; β 0.1: KL 1, reward 1.
	want := []struct{ beta, kl, reward float64 }{{0, 0, 0.5}, {1, 0.25, 0.75}, {0.1, 1, 1}}
	if len(got) != len(want) {
		t.Fatalf("%d points, want %d:\n%s", len(got), len(want), out.String())
	}
	for i, w := range want {
		b := 0.0
		if got[i].Beta != nil {
			b = *got[i].Beta
		}
		if b != w.beta || !near(got[i].KL, w.kl) || !near(got[i].Reward, w.reward) {
			t.Errorf("point %d: β %g KL %g reward %g, want %+v", i, b, got[i].KL, got[i].Reward, w)
		}
	}
	if got[1].Loss != "sigmoid=1,sft=1" || got[2].Loss != "" {
		t.Errorf("losses %q, %q: want dpo.json's for β 1, none for β 0.1", got[1].Loss, got[2].Loss)
	}
	if !strings.Contains(table.String(), "| 0.1 | 1.000 ± 0.500 | 1.000 |") {
		t.Errorf("table:\n%s", table.String())
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Errorf("plot: %v %v", fi, err)
	}
	// A run without its summary is an error naming the file.
	os.Remove(filepath.Join(root, "b1", fileSummary))
	err = run(config{samples: "n2", out: "-", dirs: []string{filepath.Join(root, "b1")}}, &out, &table)
	if err == nil || !strings.Contains(err.Error(), fileSummary) {
		t.Errorf("missing summary: %v", err)
	}
}
