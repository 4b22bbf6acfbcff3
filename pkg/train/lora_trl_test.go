package train_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestLoRATrainAgainstTRL: TRL 1.x's DPOTrainer itself with
// peft_config=LoraConfig(...) (PEFT's initialisation, reference = the base
// with the adapter disabled, precomputed; tools/oracle/trl_train.py "peft")
// and dpo-train --adapter <the adapter TRL's trainer started from>, on the
// same pairs in the same order with TRL's reference log-probs, for three
// optimizer steps (AdamW bias correction, weight decay, a linear schedule,
// gradient accumulation): every adapter gradient at every step as TRL's
// optimizer sees it (after clipping) and the trained adapter TRL saves
// agree within 1e-4 relative (‖go - trl‖/‖trl‖ per tensor), as do the
// logged loss and grad_norm. Cases: all-linear r=8; q_proj,v_proj with
// rsLoRA, modules_to_save lm_head and gradient clipping.
func TestLoRATrainAgainstTRL(t *testing.T) {
	if testing.Short() {
		t.Skip("trains with TRL")
	}
	py := testrefs.Python(t, "torch", "transformers", "trl", "datasets", "peft")
	dir := t.TempDir()
	const nPairs, seed, steps = 16, 42, 3
	ps := synthPairs(nPairs, 7)
	perm := train.Permutation(nPairs, seed, 0)
	type loraCase struct {
		trlCase
		Peft map[string]any `json:"peft"`
	}
	base := trlCase{LossType: []string{"sigmoid"}, Beta: 0.1, LR: 5e-3, Scheduler: "linear", WeightDecay: 0.1,
		BatchSize: 2, GradAccum: 2, MaxSteps: steps, FDivergence: "reverse_kl", FAlphaCoef: 0.5}
	cases := []loraCase{
		{trlCase: base, Peft: map[string]any{"r": 8, "lora_alpha": 16, "target_modules": "all-linear", "lora_dropout": 0.0}},
		{trlCase: base, Peft: map[string]any{"r": 4, "lora_alpha": 8, "target_modules": []string{"q_proj", "v_proj"},
			"use_rslora": true, "modules_to_save": []string{"lm_head"}, "lora_dropout": 0.0}},
	}
	cases[0].Name = "lora_all_linear"
	cases[1].Name = "lora_qv_rslora_lm_head_clip"
	cases[1].MaxGradNorm = 0.05
	trlDir, modelDir := runTRL(t, py, dir, tinyLlamaConfig(), 5, ps, perm, cases)

	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cdir := filepath.Join(trlDir, tc.Name)
			trl, refs := readTRLLog(t, trlDir, tc.Name, perm)
			stream := filepath.Join(dir, tc.Name+".arrow")
			writeStream(t, stream, ps, refs, "")
			out := filepath.Join(dir, "go-"+tc.Name)
			c := trlConfig(tc.trlCase, stream, out, modelDir, seed)
			c.LoRA.Adapter = filepath.Join(cdir, "init_adapter")
			grads, norms, err := train.StepsGradients(c, steps)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
				t.Fatal(err)
			}

			tg, err := safetensors.ReadFile(filepath.Join(cdir, "grads.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			init, err := adapter.LoadConfig(c.LoRA.Adapter)
			if err != nil {
				t.Fatal(err)
			}
			worstG, clipped := 0.0, false
			for k := range steps {
				coef := 1.0
				if tc.MaxGradNorm > 0 && norms[k] > tc.MaxGradNorm {
					coef, clipped = tc.MaxGradNorm/(norms[k]+1e-6), true
				}
				n := 0
				for name, g := range grads[k] {
					key := name
					if !strings.Contains(name, ".lora_") {
						key = adapter.KeySaved(name)
					}
					tt, ok := tg.Tensor(fmt.Sprintf("step%d/%s", k+1, key))
					if !ok {
						t.Fatalf("step %d: TRL has no gradient of %s", k+1, key)
					}
					want, _ := tt.Float32s()
					scaled := make([]float32, len(g))
					for i := range g {
						scaled[i] = float32(float64(g[i]) * coef)
					}
					e := relNorm(scaled, f64(want))
					worstG = max(worstG, e)
					if e > 1e-4 {
						t.Errorf("step %d gradient of %s: relative error %.3g", k+1, key, e)
					}
					n++
				}
				if want := len(tg.Names()) / steps; n != want {
					t.Errorf("step %d: dpo-train trains %d tensors, TRL %d", k+1, n, want)
				}
			}
			if tc.MaxGradNorm > 0 && !clipped {
				t.Errorf("max_grad_norm %v never clipped", tc.MaxGradNorm)
			}

			// Logged loss and grad_norm per step.
			ours := readMetrics(t, filepath.Join(out, train.MetricsFile))
			theirs := trl.trainLogs()
			if len(ours) != steps || len(theirs) != steps {
				t.Fatalf("steps: dpo-train logged %d, TRL %d", len(ours), len(theirs))
			}
			for k := range steps {
				for _, m := range []string{"loss", "grad_norm", "learning_rate"} {
					if got, want := num(t, ours[k], m), num(t, theirs[k], m); !approx(got, want, 1e-4, trlFloor[m]) {
						t.Errorf("step %d %s: dpo-train %.9g, TRL %.9g", k+1, m, got, want)
					}
				}
			}

			// The trained adapters: same keys, same values.
			mine, err := safetensors.ReadFile(filepath.Join(out, adapter.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			theirsW, err := safetensors.ReadFile(filepath.Join(cdir, "adapter", adapter.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			startW, err := safetensors.ReadFile(filepath.Join(c.LoRA.Adapter, adapter.WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(mine.Names()) != len(theirsW.Names()) {
				t.Errorf("dpo-train's adapter has %d tensors, TRL's %d", len(mine.Names()), len(theirsW.Names()))
			}
			worstW := 0.0
			for _, name := range theirsW.Names() {
				tt, _ := theirsW.Tensor(name)
				mt, ok := mine.Tensor(name)
				if !ok {
					t.Errorf("dpo-train's adapter has no %s", name)
					continue
				}
				want, _ := tt.Float32s()
				got, _ := mt.Float32s()
				st, _ := startW.Tensor(name)
				before, _ := st.Float32s()
				e := relNorm(got, f64(want))
				worstW = max(worstW, e)
				// Against the distance travelled, too: the weights barely move in 3 steps.
				dg, dw := make([]float32, len(got)), make([]float64, len(got))
				for i := range got {
					dg[i], dw[i] = got[i]-before[i], float64(want[i]-before[i])
				}
				if e > 1e-4 || relNorm(dg, dw) > 1e-3 {
					t.Errorf("%s after %d steps: relative error %.3g (of the update: %.3g)", name, steps, e, relNorm(dg, dw))
				}
			}
			t.Logf("%s: adapter r=%d on %v, modules_to_save %v; gradients within %.2g, trained adapter within %.2g",
				tc.Name, init.R, init.Targets, init.ModulesToSave, worstG, worstW)
		})
	}
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
