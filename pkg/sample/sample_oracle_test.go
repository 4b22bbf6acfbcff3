package sample

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
)

// warpCase is one setting of the warpers; the JSON keys are the oracle's.
type warpCase struct {
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"top_k"`
	TopP        float64 `json:"top_p"`
	MinP        float64 `json:"min_p,omitempty"`
}

func (w warpCase) config() Config {
	return Config{Temperature: w.Temperature, TopK: w.TopK, TopP: w.TopP, MinP: w.MinP}
}

// chiSquareCritical is the chi-square quantile at 1 - 1e-3 for df degrees
// of freedom (Wilson-Hilferty; z = 3.0902).
func chiSquareCritical(df int) float64 {
	d := float64(df)
	a := 2 / (9 * d)
	return d * math.Pow(1-a+3.0902*math.Sqrt(a), 3)
}

// TestFirstTokenFrequenciesMatchTransformers: on a tiny random Llama made
// by transformers, the engine's first-token logits equal transformers' raw
// logits (within 1e-4), and for each warper setting the first token drawn
// with 20,000 seeds (one RNG stream per seed, as dpo-sample draws) follows
// softmax of the scores transformers' generate(do_sample=True) draws from,
// after its own temperature/top-k/top-p/min-p processors: no draw of a
// token transformers removed, and a chi-square statistic (bins of expected
// count >= 5, the rest pooled) under the 1e-3 critical value. Probs of
// transformers' raw logits is that distribution: the same kept tokens and
// probabilities within 1e-6 + 1e-5 relative.
func TestFirstTokenFrequenciesMatchTransformers(t *testing.T) {
	if testing.Short() {
		t.Skip("transformers oracle: skipped with -short")
	}
	py := testrefs.Python(t, "torch", "transformers", "safetensors")
	dir := filepath.Join(t.TempDir(), "llama")
	warps := []warpCase{
		{Temperature: 0.7, TopP: 1},
		{Temperature: 1.3, TopK: 20, TopP: 1},
		{Temperature: 1, TopP: 0.8},
		{Temperature: 0.9, TopP: 1, MinP: 0.1},
		{Temperature: 1.2, TopK: 50, TopP: 0.9, MinP: 0.05},
		{Temperature: 0.6, TopP: 0.8},
		{Temperature: 1.5, TopK: 40, TopP: 0.7},
	}
	prompt := []int32{5, 17, 101, 3}
	req := map[string]any{"cases": []map[string]any{{
		"name": "llama", "dir": dir, "seed": 7, "max_new_tokens": 1, "eos_token_id": 319, "pad_token_id": 0,
		"prompts": [][]int32{prompt}, "warps": warps,
		"config": map[string]any{"model_type": "llama", "vocab_size": 320, "hidden_size": 32, "intermediate_size": 64,
			"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 64},
	}}}
	var resp struct {
		Cases map[string]struct {
			Warps []struct {
				Logits [][]float64  `json:"logits"`
				Scores [][]*float64 `json:"scores"`
			} `json:"warps"`
		} `json:"cases"`
	}
	testrefs.RunOracle(t, py, "hf_generate.py", req, &resp)
	res := resp.Cases["llama"]
	if len(res.Warps) != len(warps) {
		t.Fatalf("oracle answered %d warps, want %d", len(res.Warps), len(warps))
	}
	logits := engineFirstLogits(t, dir, prompt)
	for i, w := range warps {
		t.Run(fmt.Sprintf("T%g_k%d_p%g_minp%g", w.Temperature, w.TopK, w.TopP, w.MinP), func(t *testing.T) {
			o := res.Warps[i]
			for j, v := range o.Logits[0] {
				if math.Abs(v-float64(logits[j])) > 1e-4 {
					t.Fatalf("logit %d: engine %g, transformers %g", j, logits[j], v)
				}
			}
			want := make([]float64, len(logits)) // softmax of transformers' scores
			mx := math.Inf(-1)
			for _, s := range o.Scores[0] {
				if s != nil {
					mx = math.Max(mx, *s)
				}
			}
			var sum float64
			for j, s := range o.Scores[0] {
				if s != nil {
					want[j] = math.Exp(*s - mx)
					sum += want[j]
				}
			}
			kept := 0
			for j := range want {
				want[j] /= sum
				if want[j] > 0 {
					kept++
				}
			}
			// The whole distribution, from transformers' own raw logits
			// (the engine's differ by up to 1e-4, which could move a
			// token across a threshold): the same kept tokens, both ways,
			// and the same probabilities.
			raw := make([]float32, len(o.Logits[0]))
			for j, v := range o.Logits[0] {
				raw[j] = float32(v)
			}
			for j, q := range New(w.config()).Probs(raw) {
				switch {
				case (q > 0) != (want[j] > 0):
					t.Errorf("token %d: probability %g, transformers %g (kept by one, removed by the other)", j, q, want[j])
				case math.Abs(q-want[j]) > 1e-6+1e-5*want[j]:
					t.Errorf("token %d: probability %.9g, transformers %.9g", j, q, want[j])
				}
			}
			const N = 20000
			counts := make([]int, len(logits))
			// Draw's distribution, computed once (it depends on the logits
			// only), then one draw per seed as Draw makes it.
			p := New(w.config()).Probs(logits)
			for seed := range N {
				counts[DrawFrom(p, RNG(uint64(seed), "prompt-0", 0))]++
			}
			var chi float64
			var poolObs, poolExp float64
			df := -1
			for j, c := range counts {
				e := want[j] * N
				if e == 0 {
					if c > 0 {
						t.Errorf("token %d drawn %d times, but transformers removed it", j, c)
					}
					continue
				}
				if e < 5 {
					poolObs, poolExp = poolObs+float64(c), poolExp+e
					continue
				}
				chi += (float64(c) - e) * (float64(c) - e) / e
				df++
			}
			if poolExp >= 5 {
				chi += (poolObs - poolExp) * (poolObs - poolExp) / poolExp
				df++
			}
			if crit := chiSquareCritical(max(df, 1)); chi > crit {
				t.Errorf("chi-square %.1f > %.1f (df %d, %d tokens kept by transformers)", chi, crit, df, kept)
			} else {
				t.Logf("chi-square %.1f <= %.1f (df %d, %d tokens kept by transformers)", chi, crit, df, kept)
			}
		})
	}
}

// engineFirstLogits loads dir and returns the first next-token logits
// after prompt from Generate.
func engineFirstLogits(t *testing.T, dir string, prompt []int32) []float32 {
	t.Helper()
	ck, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	e, err := engine.New(engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, err := e.LoadModel(ck)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out []float32
	_, err = m.Generate(context.Background(), [][]int32{prompt}, 1, func(_ int, logits []float32) (int32, bool) {
		out = append([]float32(nil), logits...)
		return 0, true
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
