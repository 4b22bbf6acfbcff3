package train_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

type loraStepAnswer struct {
	Loss         float64              `json:"loss"`
	Grads        map[string][]float64 `json:"grads"`
	Updated      map[string][]float64 `json:"updated"`
	TrainedLogps [][2]float64         `json:"trained_logps"`
}

// TestLoRAStepAgainstPEFT: one LoRA DPO step of dpo-train, started from a
// PEFT adapter directory (--adapter, A and B non-zero, modules_to_save
// copies off the base) on the Llama (GQA) and GPT-2 test models, against
// PEFT + torch autograd on the same batch (tools/oracle/peft_dpo_step.py,
// float32): the loss (1e-5 relative), the gradient of every adapter matrix
// and modules_to_save parameter and their values after AdamW with weight
// decay (grouped as transformers' Trainer does) (‖go - torch‖/‖torch‖ <=
// 1e-4 per tensor; the AdamW update itself to 2e-6 absolute where the
// gradient is not noise), and only these parameters are trained. The adapter dpo-train writes loads in PEFT
// (PeftModel.from_pretrained) and scores the pairs as the engine does
// (1e-5 relative).
func TestLoRAStepAgainstPEFT(t *testing.T) {
	if testing.Short() {
		t.Skip("PEFT oracle: skipped with -short")
	}
	py := testrefs.Python(t, "torch", "transformers", "peft", "safetensors")
	root := testrefs.Root()
	type run struct {
		name, base, out string
		c               train.Config
		loss            float64
		grads           map[string][]float32
		init            *adapter.Adapter
		ps              []synthPair
		refs            [][2]float64
	}
	var runs []*run
	var req []map[string]any
	for i, name := range []string{"llama_gqa", "gpt2"} {
		dir := t.TempDir()
		r := &run{name: name, base: filepath.Join(root, "testdata", "models", name)}
		cfg, err := model.LoadConfig(r.base)
		if err != nil {
			t.Fatal(err)
		}
		// modules_to_save: Llama's norms ("norm" selects every module
		// ending with it; no weight decay), GPT-2's wpe (decayed) and ln_f.
		ac := adapter.Config{R: 4, Alpha: 8, TargetRegex: adapter.AllLinear, ModulesToSave: []string{"norm"}}
		if i == 1 {
			ac = adapter.Config{R: 3, Alpha: 5, Targets: []string{"c_attn", "c_proj"}, UseRSLoRA: true, FanInFanOut: true,
				ModulesToSave: []string{"wpe", "ln_f"}}
		}
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		if r.init, err = adapter.New(cfg, ac, rng); err != nil {
			t.Fatal(err)
		}
		for _, m := range r.init.Modules {
			for j := range r.init.Weights[m.Name].B {
				r.init.Weights[m.Name].B[j] = float32(0.05 * rng.NormFloat64())
			}
		}
		ck, err := model.Load(r.base)
		if err != nil {
			t.Fatal(err)
		}
		r.init.Saved = map[string][]float32{}
		for _, s := range r.init.SavedSpecs {
			vals, err := ck.Tensors[s.Name].Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for j := range vals {
				vals[j] += float32(0.05 * rng.NormFloat64())
			}
			r.init.Saved[s.Name] = vals
		}
		ck.Close()
		if len(r.init.SavedSpecs) < 2 {
			t.Fatalf("modules_to_save selects %d parameters", len(r.init.SavedSpecs))
		}
		initDir := filepath.Join(dir, "init")
		if err := adapter.Save(initDir, r.init, safetensors.F32); err != nil {
			t.Fatal(err)
		}
		r.ps = synthPairs(4, 5+i)
		for j := range r.ps {
			r.refs = append(r.refs, [2]float64{-20 - float64(j), -22 + 0.5*float64(j)})
		}
		in := filepath.Join(dir, "ref.arrow")
		writeStream(t, in, r.ps, r.refs, "")
		r.out = filepath.Join(dir, "out")
		c := testConfig(r.base, in, r.out)
		c.LoRA.Adapter = initDir
		c.Beta, c.LR, c.WeightDecay, c.MaxGradNorm = 0.1, 1e-3, 0.1, 0
		c.BatchSize, c.MaxSteps, c.Scheduler, c.SaveSteps = len(r.ps), 1, train.SchedConstant, 1
		r.c = c
		if r.loss, r.grads, err = train.StepGradients(c); err != nil {
			t.Fatal(err)
		}
		if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
			t.Fatal(err)
		}
		var pairs []map[string]any
		for j, p := range r.ps {
			pairs = append(pairs, map[string]any{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected,
				"ref_chosen": r.refs[j][0], "ref_rejected": r.refs[j][1]})
		}
		req = append(req, map[string]any{"name": name, "base_dir": r.base, "adapter_dir": initDir, "trained_dir": r.out,
			"pairs": pairs, "beta": c.Beta, "lr": c.LR, "weight_decay": c.WeightDecay,
			"adam_beta1": c.AdamBeta1, "adam_beta2": c.AdamBeta2, "adam_epsilon": c.AdamEps})
		runs = append(runs, r)
	}
	var resp struct {
		Cases    map[string]loraStepAnswer `json:"cases"`
		Versions map[string]string         `json:"versions"`
	}
	testrefs.RunOracle(t, py, "peft_dpo_step.py", map[string]any{"cases": req}, &resp)
	t.Logf("PEFT step oracle %v", resp.Versions)

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			want := resp.Cases[r.name]
			if math.Abs(r.loss-want.Loss) > 1e-5*math.Abs(want.Loss) {
				t.Errorf("loss %.9g, PEFT %.9g", r.loss, want.Loss)
			}
			if len(r.grads) != len(want.Grads) || len(r.grads) != 2*len(r.init.Modules)+len(r.init.SavedSpecs) {
				t.Fatalf("%d trained tensors, PEFT %d, adapter %d modules + %d modules_to_save parameters",
					len(r.grads), len(want.Grads), len(r.init.Modules), len(r.init.SavedSpecs))
			}
			worstG, worstW := 0.0, 0.0
			f, err := safetensors.ReadFile(filepath.Join(r.out, adapter.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			for name, g := range r.grads {
				n := name // the adapter file's key
				saved, isSaved := r.init.Saved[name]
				if isSaved {
					n = adapter.KeySaved(name)
				}
				wg, ok := want.Grads[n]
				if !ok || len(wg) != len(g) {
					t.Fatalf("%s: PEFT has no gradient of this shape", n)
				}
				e := relNorm(g, wg)
				worstG = max(worstG, e)
				if e > 1e-4 {
					t.Errorf("gradient of %s: relative error %.3g", n, e)
				}
				tt, ok := f.Tensor(n)
				if !ok || tt.DType != safetensors.F32 {
					t.Fatalf("written adapter has no F32 %s", n)
				}
				got, _ := tt.Float32s()
				e = relNorm(got, want.Updated[n])
				worstW = max(worstW, e)
				if e > 1e-4 {
					t.Errorf("%s after AdamW: relative error %.3g", n, e)
				}
				init := r.init.Weights[strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(n, adapter.KeyPrefix), ".lora_A.weight"), ".lora_B.weight")]
				before := init.A
				switch {
				case isSaved:
					before = saved
				case strings.HasSuffix(n, ".lora_B.weight"):
					before = init.B
				}
				for i := range got {
					d := math.Abs(float64(got[i]) - want.Updated[n][i])
					moved := math.Abs(float64(got[i] - before[i]))
					// An AdamW step moves a weight by at most lr (Adam) + lr·wd·|w| (decay).
					if math.Abs(wg[i]) > 1e-6 && d > 2e-6 || moved > 1.1*r.c.LR*(1+r.c.WeightDecay*math.Abs(float64(before[i]))) {
						t.Fatalf("%s[%d] after AdamW: %.9g, PEFT %.9g (before %.9g, grad %.3g)", n, i, got[i], want.Updated[n][i], before[i], wg[i])
					}
				}
			}
			t.Logf("%d adapter tensors: gradients within %.2g, updated weights within %.2g", len(r.grads), worstG, worstW)
			for _, name := range []string{"config.json", "model.safetensors"} {
				if _, err := os.Stat(filepath.Join(r.out, name)); err == nil {
					t.Errorf("a LoRA run wrote the base model's %s", name)
				}
			}

			// The written adapter, scored by the engine and by PEFT.
			e, err := engine.New(engine.Options{Backend: "go:ops_sequential"})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			ck, err := model.Load(r.base)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			m, err := e.LoadModel(ck)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			a, err := adapter.Load(r.out, ck.Config)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.AttachAdapter(a); err != nil {
				t.Fatal(err)
			}
			var seqs []engine.Sequence
			for _, p := range r.ps {
				seqs = append(seqs, engine.Sequence{Tokens: append(append([]int32{}, p.prompt...), p.chosen...), PromptLen: len(p.prompt)},
					engine.Sequence{Tokens: append(append([]int32{}, p.prompt...), p.rejected...), PromptLen: len(p.prompt)})
			}
			lp, err := m.SequenceLogProbs(context.Background(), seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			for j, w := range want.TrainedLogps {
				for s := range 2 {
					if got := lp[2*j+s]; math.Abs(got-w[s]) > 1e-5*math.Max(math.Abs(w[s]), 1) {
						t.Errorf("pair %d side %d: engine %.8g, PEFT %.8g with the written adapter", j, s, got, w[s])
					}
				}
			}
		})
	}
}

// TestLoRAResumeAndMerge: a LoRA run with LoRA dropout 0.1 interrupted
// after step 2 and resumed writes the same adapter, bit for bit, as the
// uninterrupted run (the dropout masks depend on the seed and the step
// only); every
// checkpoint holds a PEFT adapter directory; --merge-lora's merged model
// scores as base + adapter (1e-5 relative).
func TestLoRAResumeAndMerge(t *testing.T) {
	base, in := resumeSetup(t)
	dir := t.TempDir()
	cfg := func(out string) train.Config {
		c := resumeConfig(base, in, out, "sigmoid")
		c.LoRA = train.LoRAConfig{R: 4, Alpha: 16, Target: "all-linear", Merge: true, Dropout: 0.1, ModulesToSave: "norm"}
		c.SaveSteps = 1
		return c
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if _, err := train.Run(context.Background(), cfg(a), "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	cb := cfg(b)
	cb.StopAfterSteps = 2
	if _, err := train.Run(context.Background(), cb, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatalf("want ErrStopped, got %v", err)
	}
	cb.StopAfterSteps, cb.Resume, cb.Model = 0, true, "" // the base comes from the checkpoint's config
	res, err := train.Run(context.Background(), cb, "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 2 {
		t.Errorf("resumed from step %d, want 2", res.Resumed)
	}
	read := func(d string) []byte {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(d, adapter.WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if !bytes.Equal(read(a), read(b)) {
		t.Errorf("the resumed run's adapter differs from the uninterrupted run's")
	}
	// The optimizer state holds the adapter and the modules_to_save (the
	// norms) only: no other base weights, moments or gradients.
	st, err := safetensors.ReadFile(filepath.Join(a, "checkpoint-1", train.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Names() {
		if !strings.Contains(n, ".lora_A.") && !strings.Contains(n, ".lora_B.") && !strings.HasSuffix(n, "norm.weight") {
			t.Errorf("training state holds %s", n)
		}
	}
	// param, adam_m, adam_v x (A, B x 7 modules + 3 norms) (1 layer)
	if want := 3 * (2*7 + 3); len(st.Names()) != want {
		t.Errorf("training state has %d tensors, want %d", len(st.Names()), want)
	}
	// The adapter file holds the trained norms under PEFT's names, moved.
	af, err := safetensors.ReadFile(filepath.Join(a, adapter.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	bf, err := safetensors.ReadFile(filepath.Join(base, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"model.norm.weight", "model.layers.0.input_layernorm.weight"} {
		got, ok := af.Tensor(adapter.KeySaved(n))
		was, ok2 := bf.Tensor(n)
		if !ok || !ok2 {
			t.Fatalf("adapter has no %s (base: %v)", adapter.KeySaved(n), ok2)
		}
		if bytes.Equal(got.Data, was.Data) {
			t.Errorf("%s: not trained", n)
		}
	}
	for _, d := range []string{a, filepath.Join(a, "checkpoint-1"), filepath.Join(b, "checkpoint-3")} {
		if !adapter.IsAdapterDir(d) {
			t.Errorf("%s holds no adapter_config.json", d)
		}
	}

	// Merged model = base + adapter.
	e, err := engine.New(engine.Options{Backend: "go:ops_sequential"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	score := func(modelDir, adapterDir string) []float64 {
		t.Helper()
		ck, err := model.Load(modelDir)
		if err != nil {
			t.Fatal(err)
		}
		defer ck.Close()
		m, err := e.LoadModel(ck)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if adapterDir != "" {
			ad, err := adapter.Load(adapterDir, ck.Config)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.AttachAdapter(ad); err != nil {
				t.Fatal(err)
			}
		}
		var seqs []engine.Sequence
		for _, p := range synthPairs(6, 9) {
			seqs = append(seqs, engine.Sequence{Tokens: append(append([]int32{}, p.prompt...), p.chosen...), PromptLen: len(p.prompt)})
		}
		lp, err := m.SequenceLogProbs(context.Background(), seqs, nil)
		if err != nil {
			t.Fatal(err)
		}
		return lp
	}
	withAdapter, merged, plain := score(base, a), score(filepath.Join(a, train.MergedDir), ""), score(base, "")
	moved := 0.0
	for i := range merged {
		moved = math.Max(moved, math.Abs(withAdapter[i]-plain[i]))
		if math.Abs(merged[i]-withAdapter[i]) > 1e-5*math.Max(math.Abs(withAdapter[i]), 1) {
			t.Errorf("seq %d: merged %.8g, base+adapter %.8g", i, merged[i], withAdapter[i])
		}
	}
	if moved == 0 {
		t.Errorf("training did not move the adapter")
	}
}

// TestLoRADropoutPrecisionPaths: a LoRA run (all-linear, dropout 0.2, six
// steps with gradient accumulation) with --gradient-checkpointing writes
// the same adapter bit for bit as without; with --bf16 its last loss and
// gradient norm are within 2% of the float32 run's and not equal (the
// tolerance TestBF16Training uses for full fine-tuning); another --seed
// draws other dropout masks (another adapter), and dropout 0 another
// trajectory again.
func TestLoRADropoutPrecisionPaths(t *testing.T) {
	base, in := resumeSetup(t)
	dir := t.TempDir()
	cfg := func(name string, mod func(*train.Config)) (train.Config, *train.Result) {
		t.Helper()
		c := resumeConfig(base, in, filepath.Join(dir, name), "sigmoid")
		c.LoRA = train.LoRAConfig{R: 4, Alpha: 16, Target: "all-linear", Dropout: 0.2}
		mod(&c)
		res, err := train.Run(context.Background(), c, "test", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, res
	}
	read := func(c train.Config) []byte {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(c.Out, adapter.WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	plain, resPlain := cfg("plain", func(*train.Config) {})
	ck, _ := cfg("ckpt", func(c *train.Config) { c.GradCheckpointing = true })
	if !bytes.Equal(read(plain), read(ck)) {
		t.Errorf("--gradient-checkpointing changed the LoRA adapter")
	}
	// The dropout masks are drawn per position of the micro-batch's
	// layout, and --bf16 lays pairs out without a shared prompt: compare
	// with float32 on that layout, so both draw the same masks.
	_, res32 := cfg("f32-unshared", func(c *train.Config) { c.Layout.NoSharedPrompt = true })
	_, resBF := cfg("bf16", func(c *train.Config) { c.BF16 = true })
	if resPlain.Final["loss"] != res32.Final["loss"] {
		t.Logf("loss with a shared prompt %.7g, without %.7g (other dropout masks)", resPlain.Final["loss"], res32.Final["loss"])
	}
	for _, k := range []string{"loss", "grad_norm"} {
		a, b := res32.Final[k], resBF.Final[k]
		if d := math.Abs(a - b); d > 0.02*math.Abs(a) || d == 0 {
			t.Errorf("%s: float32 %.7g, bf16 %.7g", k, a, b)
		}
	}
	seed, _ := cfg("seed", func(c *train.Config) { c.Seed++ })
	if bytes.Equal(read(plain), read(seed)) {
		t.Errorf("another seed gave the same adapter")
	}
	nodrop, _ := cfg("nodrop", func(c *train.Config) { c.LoRA.Dropout = 0 })
	if bytes.Equal(read(plain), read(nodrop)) {
		t.Errorf("dropout 0.2 and 0 gave the same adapter")
	}
	ac, err := adapter.LoadConfig(plain.Out)
	if err != nil || ac.Dropout != 0.2 {
		t.Errorf("adapter_config.json lora_dropout: %v (%v), want 0.2", ac, err)
	}
}
