package engine

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// TestBF16LogProbsAgainstTorch scores the pairs of the bf16 training-step
// references (pkg/train/testdata/torchref/<case>_bf16.*, written by
// tools/torchref/train_step.py with model.BF16_MATMUL) with Options.BF16
// and compares the summed completion log-probs with PyTorch's to 1e-4,
// while float32 scoring of the same rows must differ from them by more
// than 10x that (so the test sees bf16 rounding, not its absence).
func TestBF16LogProbsAgainstTorch(t *testing.T) {
	dir := filepath.Join(testrefs.Root(), "pkg", "train", "testdata", "torchref")
	for _, name := range []string{"llama_gqa", "qwen2", "qwen3", "gpt2"} {
		t.Run(name, func(t *testing.T) {
			ck, err := model.Load(filepath.Join(testrefs.Root(), "testdata", "models", name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, name+"_bf16.json"))
			if err != nil {
				t.Fatal(err)
			}
			var tc struct {
				Pairs []struct{ Prompt, Chosen, Rejected []int32 } `json:"pairs"`
			}
			if err := json.Unmarshal(b, &tc); err != nil {
				t.Fatal(err)
			}
			var seqs []Sequence // chosen rows, then rejected rows
			for _, rejected := range []bool{false, true} {
				for _, p := range tc.Pairs {
					c := p.Chosen
					if rejected {
						c = p.Rejected
					}
					seqs = append(seqs, Sequence{Tokens: append(append([]int32{}, p.Prompt...), c...), PromptLen: len(p.Prompt)})
				}
			}
			gold, err := safetensors.ReadFile(filepath.Join(dir, name+"_bf16.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			tt, ok := gold.Tensor("logps")
			if !ok {
				t.Fatal("golden has no logps")
			}
			want, err := tt.Float64s()
			if err != nil {
				t.Fatal(err)
			}
			score := func(bf16 bool) []float64 {
				e := newTestEngine(t, Options{BF16: bf16, VocabChunk: 64})
				m, err := e.LoadModel(ck)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				got, err := m.SequenceLogProbs(context.Background(), seqs, nil)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			bf, f32 := score(true), score(false)
			gap := 0.0
			for i := range want {
				if d := math.Abs(bf[i] - want[i]); d > 1e-4 {
					t.Errorf("row %d: bf16 logp %.7g, torch bf16 %.7g", i, bf[i], want[i])
				}
				gap = math.Max(gap, math.Abs(f32[i]-want[i]))
			}
			if gap < 1e-3 {
				t.Errorf("float32 scoring is within %.3g of torch's bf16: the rows do not show bf16 rounding", gap)
			}
		})
	}
}
