package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// TestProbsMatchTransformersWarpers: for a grid of temperatures (below,
// at and above 1) crossed with top-k, top-p and min-p, on logit vectors of
// several spreads (and one with tied values, top-p off, where top-k and
// min-p keep every tied token), Probs equals softmax of the scores
// transformers' own logits processors produce (the list generate(
// do_sample=True) builds, GenerationMixin._get_logits_processor, applied
// in its order: temperature, top-k, top-p, min-p; tools/oracle/
// hf_warpers.py): the same set of tokens with non-zero probability, in
// both directions (none that transformers removed is kept, none that it
// kept is removed), and every probability within 1e-6 + 1e-5 relative
// (transformers works in float32). The grid is checked to discriminate:
// for some settings, top-p of the tempered logits keeps another set than
// top-p of the raw logits would.
func TestProbsMatchTransformersWarpers(t *testing.T) {
	if testing.Short() {
		t.Skip("transformers oracle: skipped with -short")
	}
	py := testrefs.Python(t, "torch", "transformers")
	const V = 96
	rng := rand.New(rand.NewPCG(2026, 23))
	var rows [][]float32
	for _, s := range []float64{0.5, 1, 2, 4} {
		r := make([]float32, V)
		for i := range r {
			r[i] = float32(s * rng.NormFloat64())
		}
		rows = append(rows, r)
	}
	zipf := make([]float32, V) // a language model's shape: log-probs ~ -1.1 log(rank)
	for i, j := range rng.Perm(V) {
		zipf[j] = float32(-1.1*math.Log(float64(i+1)) + 0.05*rng.NormFloat64())
	}
	rows = append(rows, zipf)
	ties := make([]float32, V) // values on a 0.5 grid: many ties
	for i := range ties {
		ties[i] = float32(math.Round(2*1.5*rng.NormFloat64()) / 2)
	}
	rows = append(rows, ties)
	tied := len(rows) - 1
	var warps []warpCase
	for _, temp := range []float64{0.5, 0.8, 1, 1.6} {
		for _, k := range []int{0, 5, 30} {
			for _, p := range []float64{1, 0.6, 0.9} {
				for _, mp := range []float64{0, 0.02, 0.15} {
					warps = append(warps, warpCase{Temperature: temp, TopK: k, TopP: p, MinP: mp})
				}
			}
		}
	}
	var resp struct {
		Warps []struct {
			Processors []string     `json:"processors"`
			Scores     [][]*float64 `json:"scores"`
		} `json:"warps"`
		Versions map[string]string `json:"versions"`
	}
	testrefs.RunOracle(t, py, "hf_warpers.py", map[string]any{"logits": rows, "warps": warps}, &resp)
	t.Logf("transformers %v", resp.Versions)
	if len(resp.Warps) != len(warps) {
		t.Fatalf("oracle answered %d warps, want %d", len(resp.Warps), len(warps))
	}
	t.Logf("processors of %+v: %v", warps[len(warps)-1], resp.Warps[len(warps)-1].Processors)
	kept := func(p []float64) []int {
		var out []int
		for i, q := range p {
			if q > 0 {
				out = append(out, i)
			}
		}
		return out
	}
	wantProbs := func(w, r int) []float64 {
		sc := resp.Warps[w].Scores[r]
		out := make([]float64, len(sc))
		mx := math.Inf(-1)
		for _, s := range sc {
			if s != nil {
				mx = math.Max(mx, *s)
			}
		}
		var sum float64
		for i, s := range sc {
			if s != nil {
				out[i] = math.Exp(*s - mx)
				sum += out[i]
			}
		}
		for i := range out {
			out[i] /= sum
		}
		return out
	}
	// index of a warp in the grid, to find the same setting at T = 1
	index := map[warpCase]int{}
	for i, w := range warps {
		index[w] = i
	}
	discriminating := 0
	for wi, w := range warps {
		for ri, row := range rows {
			if ri == tied && w.TopP < 1 {
				continue // the order of tied tokens in top-p's sort is torch's
			}
			name := fmt.Sprintf("row%d/T%g_k%d_p%g_minp%g", ri, w.Temperature, w.TopK, w.TopP, w.MinP)
			want := wantProbs(wi, ri)
			got := New(w.config()).Probs(row)
			wk, gk := kept(want), kept(got)
			if !slices.Equal(wk, gk) {
				var extra, missing []int
				for _, i := range gk {
					if want[i] == 0 {
						extra = append(extra, i)
					}
				}
				for _, i := range wk {
					if got[i] == 0 {
						missing = append(missing, i)
					}
				}
				t.Errorf("%s: %d tokens kept, transformers keeps %d; kept but removed by transformers %v, removed but kept by transformers %v",
					name, len(gk), len(wk), extra, missing)
				continue
			}
			for i := range want {
				if d := math.Abs(got[i] - want[i]); d > 1e-6+1e-5*want[i] {
					t.Errorf("%s: token %d probability %.9g, transformers %.9g", name, i, got[i], want[i])
					break
				}
			}
			if w.Temperature != 1 && w.TopP < 1 && w.TopK == 0 && w.MinP == 0 {
				at1 := w
				at1.Temperature = 1
				if !slices.Equal(wk, kept(wantProbs(index[at1], ri))) {
					discriminating++
				}
			}
		}
	}
	if discriminating < 5 {
		t.Errorf("only %d (row, setting) cases where top-p keeps another set at T != 1 than at T = 1: the grid does not tell the order of temperature and top-p", discriminating)
	} else {
		t.Logf("%d (row, setting) cases where top-p of the tempered logits keeps another set than top-p at T = 1", discriminating)
	}
}
