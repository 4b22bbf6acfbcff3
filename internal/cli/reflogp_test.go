package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// randomModel writes a random-initialised example model whose dpo.json says
// it was made for the builtin bytes tokenizer.
func randomModel(t testing.TB, seed int64) string {
	t.Helper()
	cfg, err := model.LoadConfig(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := model.Save(dir, model.RandomInit(cfg, seed), safetensors.F32); err != nil {
		t.Fatal(err)
	}
	if err := ckpt.Write(dir, ckpt.Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tokenizeExample(t testing.TB, n int) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "sort", "heldout.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")[:n]
	var out bytes.Buffer
	if err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "--batch-rows", "7", "-q"}, strings.NewReader(strings.Join(lines, "")), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestReflogp checks the plumbing: every row and column kept in order, the
// two columns appended, and each value equal to the engine's log-prob of that
// sequence scored alone (the engine itself is checked against PyTorch in
// pkg/engine).
func TestReflogp(t *testing.T) {
	dir := randomModel(t, 1)
	in := tokenizeExample(t, 40)
	var out, errb bytes.Buffer
	if err := Reflogp(context.Background(), []string{"--model", dir, "--batch-tokens", "256"}, bytes.NewReader(in), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.NewReader(bytes.NewReader(out.Bytes()), "out", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	names := []string{}
	for _, f := range r.Schema().Fields() {
		names = append(names, f.Name)
	}
	if want := "id,prompt_input_ids,chosen_input_ids,rejected_input_ids,ref_chosen_logps,ref_rejected_logps"; strings.Join(names, ",") != want {
		t.Fatalf("columns %v, want %s", names, want)
	}
	if v := r.Metadata().StageVersion(arrowio.StageReflogp); v == "" {
		t.Error("reflogp stage not recorded in metadata")
	}
	if n, _ := r.Metadata().Tokenizer(); n != "builtin:bytes" {
		t.Errorf("tokenizer metadata not carried forward: %q", n)
	}
	lm, err := loadModel(dir, engine.Options{BatchTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	rows := 0
	for r.Next() {
		rec := r.Record()
		p, _ := arrowio.ReadPairs(rec)
		rc, _ := arrowio.Float64Column(rec, arrowio.ColRefChosenLogps)
		rr, _ := arrowio.Float64Column(rec, arrowio.ColRefRejectedLogps)
		for i := 0; i < p.Rows; i++ {
			if want := "heldout-" + pad4(rows); p.ID.Value(i) != want {
				t.Fatalf("row %d has id %s, want %s", rows, p.ID.Value(i), want)
			}
			for k, comp := range [][]int32{p.Chosen.Row(i), p.Rejected.Row(i)} {
				seq := engine.Sequence{Tokens: append(append([]int32{}, p.Prompt.Row(i)...), comp...), PromptLen: len(p.Prompt.Row(i))}
				alone, err := lm.model.SequenceLogProbs(context.Background(), []engine.Sequence{seq}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := []float64{rc[i], rr[i]}[k]
				if d := got - alone[0]; d > 1e-6*max(1, -alone[0]) || d < -1e-6*max(1, -alone[0]) {
					t.Errorf("row %d: %v, alone %v", rows, got, alone[0])
				}
				if got >= 0 {
					t.Errorf("row %d: log-prob %v is not negative", rows, got)
				}
			}
			rows++
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 40 {
		t.Fatalf("%d rows, want 40", rows)
	}
}

func pad4(n int) string { return fmt.Sprintf("%04d", n) }

func TestReflogpErrors(t *testing.T) {
	dir := randomModel(t, 2)
	in := tokenizeExample(t, 10)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "config.json"), mustRead(t, filepath.Join(dir, "config.json")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "model.safetensors"), filepath.Join(other, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := ckpt.Write(other, ckpt.Meta{TokenizerName: "qwen3", TokenizerSHA256: strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		input   []byte
		code    int
		wantErr string
	}{
		{"no model", nil, in, 2, "--model"},
		{"tokenizer mismatch", []string{"--model", other}, in, 1, "--ignore-tokenizer-mismatch"},
		{"truncated stream", []string{"--model", dir}, in[:len(in)-40], 1, "stdin"},
		{"not a stream", []string{"--model", dir}, []byte(`{"prompt":"x"}`), 1, "stdin"},
		{"missing model dir", []string{"--model", "/nonexistent"}, in, 1, "/nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ref.arrow")
			err := Reflogp(context.Background(), append(tt.args, "-o", out, "-q"), bytes.NewReader(tt.input), io.Discard, io.Discard)
			if ExitCode(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v (code %d), want code %d mentioning %q", err, ExitCode(err), tt.code, tt.wantErr)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output left behind")
			}
		})
	}
	// Token ids the model cannot embed: a model with a smaller vocabulary.
	small := t.TempDir()
	cfg, err := model.LoadConfig(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.VocabSize = 100
	cfg.Raw["vocab_size"] = 100
	if err := model.Save(small, model.RandomInit(cfg, 1), safetensors.F32); err != nil {
		t.Fatal(err)
	}
	if err := ckpt.Write(small, ckpt.Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "ref.arrow")
	err = Reflogp(context.Background(), []string{"--model", small, "-o", out, "-q"}, bytes.NewReader(in), io.Discard, io.Discard)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "outside the model's vocabulary of 100") || !strings.Contains(err.Error(), `id "heldout-0000"`) {
		t.Fatalf("out-of-vocabulary ids: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output left behind")
	}
	// --ignore-tokenizer-mismatch lets an expert run it.
	if err := Reflogp(context.Background(), []string{"--model", other, "--ignore-tokenizer-mismatch", "-q"}, bytes.NewReader(in), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReflogpBF16: --bf16 scores with the engine's bf16 mixed precision
// (checked against PyTorch in pkg/engine), records it in the stream
// metadata, and gives values that differ from float32 by bf16 rounding.
func TestReflogpBF16(t *testing.T) {
	dir := randomModel(t, 1)
	in := tokenizeExample(t, 12)
	logps := func(args ...string) ([]float64, bool) {
		var out, errb bytes.Buffer
		if err := Reflogp(context.Background(), append([]string{"--model", dir, "--batch-tokens", "256"}, args...), bytes.NewReader(in), &out, &errb); err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		r, err := arrowio.NewReader(bytes.NewReader(out.Bytes()), "out", mem)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Release()
		var vals []float64
		for r.Next() {
			rc, _ := arrowio.Float64Column(r.Record(), arrowio.ColRefChosenLogps)
			rr, _ := arrowio.Float64Column(r.Record(), arrowio.ColRefRejectedLogps)
			vals = append(append(vals, rc...), rr...)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		var opts reflogpOptions
		if err := r.Metadata().StageOptions(arrowio.StageReflogp, &opts); err != nil {
			t.Fatal(err)
		}
		return vals, opts.BF16
	}
	f32, metaF32 := logps()
	bf, metaBF := logps("--bf16")
	if metaF32 || !metaBF {
		t.Errorf("stage metadata bf16: %v without --bf16, %v with", metaF32, metaBF)
	}
	maxDiff := 0.0
	for i := range f32 {
		d := math.Abs(f32[i] - bf[i])
		maxDiff = math.Max(maxDiff, d)
		if d > 0.05*math.Abs(f32[i]) {
			t.Errorf("value %d: float32 %v, bf16 %v", i, f32[i], bf[i])
		}
	}
	if maxDiff < 1e-4 {
		t.Errorf("bf16 values equal float32's to %g: no bf16 rounding", maxDiff)
	}
}
