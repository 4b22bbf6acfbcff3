package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
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

// layoutLossAndGrads returns per-sequence log-prob sums of pairs and the
// gradient of Σ_s w_s·lp_s (w_s = 1 + s/10) w.r.t. every weight, through
// the plain graph (LayoutTokenStatsGraph over PlainLayoutInputs of padded rows, chosen rows
// then rejected) or a layout of the pairs (LayoutTokenStatsGraph).
func layoutLossAndGrads(t *testing.T, e *Engine, m *Model, seqs []Sequence, sw Switches, opts GraphOptions) ([]float32, map[string][]float32) {
	t.Helper()
	S := len(seqs)
	B := S / 2
	var args []*tensors.Tensor
	build := func(scope *gmodel.Scope, in []*graph.Node) []*graph.Node {
		var st TokenStats
		if sw.Plain {
			st = LayoutTokenStatsGraph(scope.Store(), m.Config(), PlainLayoutInputs(in[0], in[1], in[2]), opts)
		} else {
			st = LayoutTokenStatsGraph(scope.Store(), m.Config(), NewLayoutInputs(in), opts)
		}
		lp := graph.ReduceSum(st.LogProbs, 1) // [S]
		w := graph.AddScalar(graph.DivScalar(graph.Iota(lp.Graph(), shapeOf(dtypes.Float32, S), 0), 10), 1)
		loss := graph.ReduceAllSum(graph.Mul(lp, w))
		var wrt []*graph.Node
		for _, s := range m.specs {
			wrt = append(wrt, scope.Store().GetVariable("/"+s.Name).NodeValue(lp.Graph()))
		}
		return append([]*graph.Node{lp}, graph.Gradient(loss, wrt...)...)
	}
	// Slot s: chosen of pair s for s < B, rejected of pair s-B after.
	order := make([]Sequence, S)
	for j := range B {
		order[j], order[B+j] = seqs[2*j], seqs[2*j+1]
	}
	if sw.Plain {
		T := 0
		for _, s := range order {
			T = max(T, bucketLen(len(s.Tokens)))
		}
		toks, lens, prompts := make([]int32, S*T), make([]int32, S), make([]int32, S)
		for r, s := range order {
			copy(toks[r*T:], s.Tokens)
			lens[r], prompts[r] = int32(len(s.Tokens)), int32(s.PromptLen)
		}
		args = []*tensors.Tensor{tensors.FromFlatDataAndDimensions(toks, S, T),
			tensors.FromFlatDataAndDimensions(lens, S), tensors.FromFlatDataAndDimensions(prompts, S)}
	} else {
		var groups []Group
		for j := range B {
			c, r := order[j], order[B+j]
			groups = append(groups, Group{Prompt: c.Tokens[:c.PromptLen],
				Completions: [][]int32{c.Tokens[c.PromptLen:], r.Tokens[r.PromptLen:]}, Out: []int{j, B + j}})
		}
		o := sw.layoutOptions()
		var lens []int
		for _, g := range groups {
			lens = append(lens, g.len())
		}
		l := NewLayout(groups, S, PackedLen(lens, 64), 1, o)
		args = l.Inputs().Flat()
	}
	var lp []float32
	grads := map[string][]float32{}
	err := catch(func() error {
		exec, err := gmodel.NewExec(e.backend, m.Store(), build)
		if err != nil {
			return err
		}
		defer exec.Finalize()
		in := make([]any, len(args))
		for i, a := range args {
			in[i] = a
		}
		out, err := exec.Exec(in...)
		if err != nil {
			return err
		}
		lp = tensors.MustCopyFlatData[float32](out[0])
		for i, s := range m.specs {
			grads[s.Name] = tensors.MustCopyFlatData[float32](out[1+i])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lp, grads
}

// TestLayoutGradientsEqualPlain: the training graph over a layout (shared
// prompt and packing, and shared prompt alone) gives the plain graph's
// per-sequence log-probs (1e-5 relative) and gradients (max difference
// within 1e-4 of the largest gradient entry of the tensor in float32, 2e-2
// in bf16), with and without gradient checkpointing, on every test family
// (GPT-2's learned positions, windowed Qwen2 and Gemma 2 included).
func TestLayoutGradientsEqualPlain(t *testing.T) {
	for name, cfg := range layoutConfigs() {
		for _, bf16 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bf16=%v", name, bf16), func(t *testing.T) {
				e := newTestEngine(t, Options{})
				m, err := e.LoadWeights(cfg, randomTensors(t, cfg, 13, safetensors.F32))
				if err != nil {
					t.Fatal(err)
				}
				seqs := pairSeqs(rand.New(rand.NewPCG(4, 2)), 4, cfg.VocabSize)
				opts := GraphOptions{VocabChunk: 16, BF16: bf16}
				wantLP, want := layoutLossAndGrads(t, e, m, seqs, Switches{Plain: true}, opts)
				lpTol, gTol := 1e-5, 1e-4
				if bf16 {
					lpTol, gTol = 2e-2, 2e-2
				}
				for _, c := range []struct {
					name string
					sw   Switches
					ck   bool
				}{{"shared+packed", Switches{}, false}, {"shared", Switches{NoPacking: true}, false}, {"shared+packed/checkpoint", Switches{}, true}} {
					o := opts
					o.Checkpoint = c.ck
					lp, got := layoutLossAndGrads(t, e, m, seqs, c.sw, o)
					for s := range wantLP {
						if d := relDiff(float64(lp[s]), float64(wantLP[s])); d > lpTol {
							t.Errorf("%s: sequence %d: log-prob %v, plain %v (rel %.2g)", c.name, s, lp[s], wantLP[s], d)
						}
					}
					for _, s := range m.specs {
						a, b := got[s.Name], want[s.Name]
						scale, worst := 0.0, 0.0
						for i := range b {
							scale = max(scale, abs(float64(b[i])))
							worst = max(worst, abs(float64(a[i]-b[i])))
						}
						if worst > gTol*scale+1e-7 {
							t.Errorf("%s: %s: gradient differs by %.3g (largest entry %.3g)", c.name, s.Name, worst, scale)
						}
					}
				}
			})
		}
	}
}
