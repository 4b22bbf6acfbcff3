package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// layoutConfigs are testConfigs plus windowed families: a Qwen2 with a
// sliding window on every layer and a Gemma 2 (alternating windows,
// soft-capping), windows shorter than the sequences.
func layoutConfigs() map[string]*model.Config {
	cs := testConfigs()
	qw := tinyLlama()
	qw.Arch, qw.AttentionBias, qw.SlidingWindow = model.ArchQwen2, true, 5
	cs["qwen2-window"] = qw
	g2 := tinyLlama()
	g2.Arch, g2.NormOffset, g2.EmbedScale, g2.SandwichNorms = model.ArchGemma2, 1, 4, true
	g2.HiddenAct, g2.AttnSoftcap, g2.FinalSoftcap, g2.QueryPreAttnScalar = "gelu_pytorch_tanh", 2.5, 3.5, 12
	g2.SlidingWindow, g2.SlidingLayers, g2.TieWordEmbeddings = 4, []bool{true, false}, true
	cs["gemma2-window"] = g2
	return cs
}

// pairSeqs returns n pairs as 2n sequences (chosen i at 2i, rejected at
// 2i+1) sharing their prompt, with prompts and completions of random
// lengths (some completions empty).
func pairSeqs(rng *rand.Rand, n, vocab int) []Sequence {
	tok := func(k int) []int32 {
		s := make([]int32, k)
		for i := range s {
			s[i] = int32(rng.IntN(vocab))
		}
		return s
	}
	var out []Sequence
	for range n {
		p := tok(1 + rng.IntN(12))
		for range 2 {
			c := tok(rng.IntN(14))
			out = append(out, Sequence{Tokens: append(append([]int32(nil), p...), c...), PromptLen: len(p)})
		}
	}
	return out
}

// TestLayoutsEqualPlain scores the same pairs through the plain path and
// every layout (completion-only head alone, + shared prompt, + packing):
// per-token log-probs agree within 1e-5 relative (1e-6 absolute floor).
func TestLayoutsEqualPlain(t *testing.T) {
	for name, cfg := range layoutConfigs() {
		t.Run(name, func(t *testing.T) {
			ts := randomTensors(t, cfg, 5, safetensors.F32)
			rng := rand.New(rand.NewPCG(9, 1))
			seqs := pairSeqs(rng, 9, cfg.VocabSize)
			score := func(sw Switches, bt int) [][]float32 {
				e := newTestEngine(t, Options{BatchTokens: bt, VocabChunk: 16, Layout: sw})
				m, err := e.LoadWeights(cfg, ts)
				if err != nil {
					t.Fatal(err)
				}
				lp, err := m.TokenLogProbs(context.Background(), seqs, nil)
				if err != nil {
					t.Fatal(err)
				}
				return lp
			}
			want := score(Switches{Plain: true}, 256)
			for _, c := range []struct {
				name string
				sw   Switches
				bt   int
			}{
				{"head", Switches{NoSharedPrompt: true, NoPacking: true}, 256},
				{"shared", Switches{NoPacking: true}, 256},
				{"packed", Switches{NoSharedPrompt: true}, 256},
				{"shared+packed", Switches{}, 256},
				{"shared+packed/small", Switches{}, 64},
			} {
				got := score(c.sw, c.bt)
				for i := range want {
					if len(got[i]) != len(want[i]) {
						t.Fatalf("%s: sequence %d: %d log-probs, want %d", c.name, i, len(got[i]), len(want[i]))
					}
					for j := range want[i] {
						a, b := float64(got[i][j]), float64(want[i][j])
						if d := relDiff(a, b); d > 1e-5 && abs(a-b) > 1e-6 {
							t.Fatalf("%s: sequence %d token %d: %v, plain %v (rel %.2g)", c.name, i, j, a, b, d)
						}
					}
				}
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestNewLayout checks a small layout by hand: two pairs sharing prompts,
// packed into one row.
func TestNewLayout(t *testing.T) {
	g := []Group{
		{Prompt: []int32{1, 2}, Completions: [][]int32{{3, 4}, {5}}, Out: []int{0, 2}},
		{Prompt: []int32{6}, Completions: [][]int32{{7}, {8, 9}}, Out: []int{1, 3}},
	}
	l := NewLayout(g, 4, 16, 1, LayoutOptions{SharedPrompt: true, Pack: true})
	if l.Rows != 1 {
		t.Fatalf("rows %d, want 1", l.Rows)
	}
	got := fmt.Sprint(l.Tokens[:10], l.Positions[:10], l.Doc[:10], l.Branch[:10])
	want := "[1 2 3 4 5 6 7 8 9 0] [0 1 2 3 2 0 1 1 2 0] [0 0 0 0 0 1 1 1 1 -1] [0 0 1 1 2 0 1 2 2 0]"
	if got != want {
		t.Errorf("layout\n got %s\nwant %s", got, want)
	}
	got = fmt.Sprint(l.Pred[:6], l.Target[:6], l.Seq[:6], l.Index[:6], l.N)
	want = "[1 2 1 5 5 7] [3 4 5 7 8 9] [0 0 2 1 3 3] [0 1 0 0 0 1] 16"
	if got != want {
		t.Errorf("head\n got %s\nwant %s", got, want)
	}
	if l.Grid[2*16] != 2 || l.Grid[3*16+1] != 5 || l.Grid[3*16+2] != 16 {
		t.Errorf("grid %v", l.Grid)
	}
}
