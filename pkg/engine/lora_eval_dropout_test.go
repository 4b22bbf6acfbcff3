package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// TestLoRAEvalPathsWithoutDropout: the engine's inference paths (scoring
// with SequenceLogProbs and TokenLogProbs, on the plain and the layout
// graphs, which reflogp, score and train's evaluation use, and Generate,
// which sample uses) run an adapter in eval mode, as PEFT does under
// model.eval(): with lora_dropout 0.5 they give, bit for bit, what the
// same adapter gives with lora_dropout 0, and a second call repeats them.
// The adapter itself changes them (its branch is computed).
func TestLoRAEvalPathsWithoutDropout(t *testing.T) {
	cfg := tinyLlama()
	ts := randomTensors(t, cfg, 91, safetensors.F32)
	rng := rand.New(rand.NewPCG(5, 6))
	a, err := adapter.New(cfg, adapter.Config{R: 4, Alpha: 8, Dropout: 0.5, TargetRegex: adapter.AllLinear}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range a.Modules {
		for j := range a.Weights[m.Name].B {
			a.Weights[m.Name].B[j] = float32(0.3 * rng.NormFloat64())
		}
	}
	noDrop := *a
	noDrop.Config.Dropout = 0
	seqs := randomSeqs(rand.New(rand.NewPCG(1, 2)), 6, cfg.VocabSize, 5, 14)
	for i := range seqs {
		seqs[i].PromptLen = 1 + i%3
	}
	var prompts [][]int32
	for _, s := range seqs[:3] {
		prompts = append(prompts, s.Tokens[:s.PromptLen+1])
	}
	type outputs struct {
		seq  []float64
		tok  [][]float32
		gen  [][]float32 // logits of each decoding step, rows in order
		toks []int32
	}
	for _, plain := range []bool{true, false} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			e := newTestEngine(t, Options{Layout: Switches{Plain: plain}})
			run := func(ad *adapter.Adapter) outputs {
				t.Helper()
				m, err := e.LoadWeights(cfg, ts)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if ad != nil {
					if err := m.AttachAdapter(ad); err != nil {
						t.Fatal(err)
					}
					if m.LoRADropout() != ad.Config.Dropout {
						t.Fatalf("LoRADropout %g, adapter %g", m.LoRADropout(), ad.Config.Dropout)
					}
				}
				var o outputs
				ctx := context.Background()
				for range 2 { // the second call must repeat the first
					seq, err := m.SequenceLogProbs(ctx, seqs, nil)
					if err != nil {
						t.Fatal(err)
					}
					tok, err := m.TokenLogProbs(ctx, seqs, nil)
					if err != nil {
						t.Fatal(err)
					}
					var gen [][]float32
					var toks []int32
					_, err = m.Generate(ctx, prompts, 3, func(_ int, logits []float32) (int32, bool) {
						gen = append(gen, slices.Clone(logits))
						next := int32(argmaxF32(logits))
						toks = append(toks, next)
						return next, false
					}, nil)
					if err != nil {
						t.Fatal(err)
					}
					if o.seq != nil && (!slices.Equal(o.seq, seq) || fmt.Sprint(o.tok) != fmt.Sprint(tok) || fmt.Sprint(o.gen) != fmt.Sprint(gen)) {
						t.Errorf("dropout %v: a second call gave other log-probs or logits", ad != nil && ad.Config.Dropout > 0)
					}
					o = outputs{seq, tok, gen, toks}
				}
				return o
			}
			dropped, none, base := run(a), run(&noDrop), run(nil)
			if !slices.Equal(dropped.seq, none.seq) {
				t.Errorf("SequenceLogProbs with lora_dropout 0.5 %v, with 0 %v", dropped.seq, none.seq)
			}
			if fmt.Sprint(dropped.tok) != fmt.Sprint(none.tok) {
				t.Errorf("TokenLogProbs with lora_dropout 0.5 differ from those with 0")
			}
			if fmt.Sprint(dropped.gen) != fmt.Sprint(none.gen) || !slices.Equal(dropped.toks, none.toks) {
				t.Errorf("Generate's logits with lora_dropout 0.5 differ from those with 0")
			}
			if slices.Equal(base.seq, none.seq) || fmt.Sprint(base.gen) == fmt.Sprint(none.gen) {
				t.Errorf("the adapter changes neither scores nor logits: the test exercises nothing")
			}
		})
	}
}

// argmaxF32 is the index of the first index of the largest value.
func argmaxF32(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
