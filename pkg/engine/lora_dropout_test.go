package engine

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// loraGradRun is what dropoutGrads computes: the summed completion
// log-probs, their gradient with respect to every adapter matrix (PEFT
// names) and the keep masks drawn, by module.
type loraGradRun struct {
	sum   float64
	grads map[string][]float32
	keep  map[string][]float32
}

// dropoutGrads builds the training forward of m (with its adapter) on
// seqs (all of length T), with LoRA dropout p drawn from seed (p = 0: no
// dropout), and differentiates the summed completion log-probs.
func dropoutGrads(t *testing.T, e *Engine, m *Model, seqs [][]int32, prompts []int, p float64, seed int64, ckpt bool) loraGradRun {
	t.Helper()
	B, T := len(seqs), len(seqs[0])
	toks := make([]int32, 0, B*T)
	lengths := make([]int32, B)
	pl := make([]int32, B)
	for i, s := range seqs {
		toks = append(toks, s...)
		lengths[i], pl[i] = int32(T), int32(prompts[i])
	}
	specs := m.AdapterSpecs()
	mods := m.adapter.Modules
	out := loraGradRun{grads: map[string][]float32{}, keep: map[string][]float32{}}
	err := catch(func() error {
		exec, err := gmodel.NewExec(e.backend, m.Store(), func(scope *gmodel.Scope, tokens, lengths, prompts *graph.Node) []*graph.Node {
			g := tokens.Graph()
			opts := GraphOptions{VocabChunk: 16, LoRA: m.LoRAScales(), Checkpoint: ckpt}
			if p > 0 {
				st, err := graph.RNGStateFromSeed(seed)
				if err != nil {
					panic(err)
				}
				opts.LoRADropout = &LoRADropout{P: p, State: graph.Const(g, st), Keep: map[string]*graph.Node{}}
			}
			lp := graph.ReduceAllSum(LayoutLogProbsGraph(scope.Store(), m.Config(), PlainLayoutInputs(tokens, lengths, prompts), opts))
			var wrt []*graph.Node
			for _, s := range specs {
				wrt = append(wrt, scope.Store().GetVariable("/"+s.Name).NodeValue(g))
			}
			res := append([]*graph.Node{lp}, graph.Gradient(lp, wrt...)...)
			if p > 0 {
				for _, mod := range mods {
					res = append(res, opts.LoRADropout.Keep[mod.Name])
				}
			}
			return res
		})
		if err != nil {
			return err
		}
		res, err := exec.Call(tensors.FromFlatDataAndDimensions(toks, B, T),
			tensors.FromFlatDataAndDimensions(lengths, B), tensors.FromFlatDataAndDimensions(pl, B))
		if err != nil {
			return err
		}
		out.sum = float64(tensors.MustCopyFlatData[float32](res[0])[0])
		for i, s := range specs {
			out.grads[s.Name] = tensors.MustCopyFlatData[float32](res[1+i])
		}
		for i, mod := range mods {
			if p > 0 {
				out.keep[mod.Name] = tensors.MustCopyFlatData[float32](res[1+len(specs)+i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func relNormF(got []float32, want []float64) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - want[i]
		d += e * e
		n += want[i] * want[i]
	}
	return math.Sqrt(d) / math.Max(math.Sqrt(n), 1e-30)
}

// TestLoRADropoutAgainstPEFT: LoRA dropout in the training forward, on
// Llama (all-linear: q, k, v share one input but draw separate masks) and
// GPT-2 (Conv1D), against PEFT given the SAME masks: the keep masks the
// graph draws are injected into PEFT's own lora_dropout modules (a forward
// hook on torch.nn.Dropout in training mode, p from the adapter_config.json
// dpo wrote; tools/oracle/peft_lora.py "dropout"), and the gradient of the
// summed completion log-probs with respect to every lora_A and lora_B
// agrees within 1e-4 relative (the sum within 1e-5). So the dropout sits on
// lora_A's input only, scales by 1/(1-p), and each module has its own mask.
// The masks keep 1-p of the inputs (±0.03), are the same for the same RNG
// state and differ for another, gradient checkpointing reproduces the
// gradients exactly, and without dropout the gradients differ (the masks
// matter).
func TestLoRADropoutAgainstPEFT(t *testing.T) {
	if testing.Short() {
		t.Skip("PEFT oracle: skipped with -short")
	}
	py := testrefs.Python(t, "torch", "transformers", "peft", "safetensors")
	const p = 0.3
	root := t.TempDir()
	e := newTestEngine(t, Options{VocabChunk: 16})
	type dcase struct {
		name    string
		cfg     *model.Config
		lc      adapter.Config
		m       *Model
		seqs    [][]int32
		prompts []int
		run     loraGradRun
	}
	cases := []*dcase{
		{name: "llama_all_linear", cfg: tinyLlama(), lc: adapter.Config{R: 4, Alpha: 8, Dropout: p, TargetRegex: adapter.AllLinear}},
		{name: "gpt2_c_attn_c_fc", cfg: tinyGPT2(), lc: adapter.Config{R: 3, Alpha: 6, Dropout: p, Targets: []string{"c_attn", "c_fc"}, FanInFanOut: true}},
	}
	var req []map[string]any
	for i, c := range cases {
		c.cfg.InitializerRange = 0.02
		baseDir, adDir := filepath.Join(root, c.name, "base"), filepath.Join(root, c.name, "adapter")
		ts := randomTensors(t, c.cfg, uint64(400+i), safetensors.F32)
		if err := model.Save(baseDir, &model.Checkpoint{Config: c.cfg, Tensors: ts}, safetensors.F32); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 19))
		a, err := adapter.New(c.cfg, c.lc, rng)
		if err != nil {
			t.Fatal(err)
		}
		for _, mod := range a.Modules {
			for j := range a.Weights[mod.Name].B {
				a.Weights[mod.Name].B[j] = float32(0.3 * rng.NormFloat64())
			}
		}
		if err := adapter.Save(adDir, a, safetensors.F32); err != nil {
			t.Fatal(err)
		}
		if c.m, err = e.LoadWeights(c.cfg, ts); err != nil {
			t.Fatal(err)
		}
		defer c.m.Close()
		if err := c.m.AttachAdapter(a); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			s := make([]int32, 12)
			for k := range s {
				s[k] = int32(rng.IntN(c.cfg.VocabSize))
			}
			c.seqs = append(c.seqs, s)
			c.prompts = append(c.prompts, 2+3*j)
		}
		c.run = dropoutGrads(t, e, c.m, c.seqs, c.prompts, p, 77, false)
		req = append(req, map[string]any{"name": c.name, "base_dir": baseDir, "adapter_dir": adDir,
			"seqs": c.seqs, "prompt_lens": c.prompts, "p": p, "keep": c.run.keep})
	}
	var resp struct {
		Cases map[string]struct {
			LogpSum float64              `json:"logp_sum"`
			Grads   map[string][]float64 `json:"grads"`
			NLoRA   int                  `json:"n_lora"`
		} `json:"cases"`
		Versions map[string]string `json:"versions"`
	}
	testrefs.RunOracle(t, py, "peft_lora.py", map[string]any{"dropout": req}, &resp)
	t.Logf("PEFT dropout oracle %v", resp.Versions)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, ok := resp.Cases[c.name]
			if !ok || want.NLoRA != len(c.m.adapter.Modules) {
				t.Fatalf("oracle hooked %d dropout modules, adapter has %d", want.NLoRA, len(c.m.adapter.Modules))
			}
			if relErr(c.run.sum, want.LogpSum) > 1e-5 {
				t.Errorf("summed log-probs %.8g, PEFT %.8g", c.run.sum, want.LogpSum)
			}
			worst := 0.0
			for n, g := range c.run.grads {
				w, ok := want.Grads[n]
				if !ok || len(w) != len(g) {
					t.Fatalf("PEFT has no gradient of %s's shape", n)
				}
				e := relNormF(g, w)
				worst = max(worst, e)
				if e > 1e-4 {
					t.Errorf("gradient of %s: relative error %.3g", n, e)
				}
			}
			if len(want.Grads) != len(c.run.grads) {
				t.Errorf("PEFT trains %d tensors, dpo %d", len(want.Grads), len(c.run.grads))
			}
			kept, total := 0.0, 0
			for mod, k := range c.run.keep {
				for _, v := range k {
					if v != 0 && v != 1 {
						t.Fatalf("%s: keep mask value %v", mod, v)
					}
					kept += float64(v)
				}
				total += len(k)
			}
			if r := kept / float64(total); math.Abs(r-(1-p)) > 0.03 {
				t.Errorf("masks keep %.3f of %d inputs, want %.2f", r, total, 1-p)
			}
			var first []float32
			for _, mod := range c.m.adapter.Modules {
				if k := c.run.keep[mod.Name]; first == nil {
					first = k
				} else if len(k) == len(first) && equalF32(k, first) {
					t.Errorf("%s draws the same mask as the first module", mod.Name)
				}
			}

			again := dropoutGrads(t, e, c.m, c.seqs, c.prompts, p, 77, false)
			other := dropoutGrads(t, e, c.m, c.seqs, c.prompts, p, 78, false)
			ck := dropoutGrads(t, e, c.m, c.seqs, c.prompts, p, 77, true)
			none := dropoutGrads(t, e, c.m, c.seqs, c.prompts, 0, 0, false)
			for _, mod := range c.m.adapter.Modules {
				if !equalF32(again.keep[mod.Name], c.run.keep[mod.Name]) {
					t.Errorf("%s: the same RNG state drew another mask", mod.Name)
				}
				if equalF32(other.keep[mod.Name], c.run.keep[mod.Name]) {
					t.Errorf("%s: another RNG state drew the same mask", mod.Name)
				}
			}
			moved := 0.0
			for n, g := range c.run.grads {
				if !equalF32(ck.grads[n], g) {
					t.Errorf("%s: gradient checkpointing changed the gradient (relative %.3g)", n, relNormF(ck.grads[n], f64s(g)))
				}
				moved = max(moved, relNormF(none.grads[n], f64s(g)))
			}
			if moved < 0.05 {
				t.Errorf("without dropout the gradients differ by at most %.3g: the masks do not matter", moved)
			}
			t.Logf("gradients within %.2g of PEFT's; dropout changes them by up to %.2f", worst, moved)
		})
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func f64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
