package train_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestTrainMoEAgainstTRL trains a tiny random Qwen3-MoE (4 experts, top 2,
// renormalised, both layers routed) with TRL 1.x's DPOTrainer and with
// dpo-train, the router load-balancing loss on: from the model config's
// router_aux_loss_coef (0.05, with gradient accumulation), and from
// --router-aux-loss-coef 0.3. Every logged metric, aux_loss included, is
// compared per optimizer step (1e-4 relative, trlFloor), and the final
// weights as in TestTrainAgainstTRL; with --gradient-checkpointing the
// first run's loss, aux_loss and grad_norm are bit-identical.
func TestTrainMoEAgainstTRL(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 2 runs with TRL and dpo-train")
	}
	py := testrefs.Python(t, "torch", "transformers", "trl", "datasets")
	start := time.Now()
	dir := t.TempDir()
	const nPairs, seed = 32, 42
	ps := synthPairs(nPairs, 7)
	perm := train.Permutation(nPairs, seed, 0)
	coef := 0.3
	base := trlCase{Beta: 0.1, LR: 1e-2, Scheduler: "linear", Warmup: 1, MaxGradNorm: 1, LossType: []string{"sigmoid"},
		BatchSize: 4, GradAccum: 2, MaxSteps: 4, FDivergence: "reverse_kl", FAlphaCoef: 0.5}
	cases := []trlCase{base, base}
	cases[0].Name = "moe_config_coef"
	cases[1].Name, cases[1].RouterAuxCoef, cases[1].BatchSize, cases[1].GradAccum = "moe_coef_flag", &coef, 8, 1

	var pyPairs []map[string][]int32
	for _, i := range perm {
		p := ps[i]
		pyPairs = append(pyPairs, map[string][]int32{"prompt_ids": p.prompt, "chosen_ids": p.chosen, "rejected_ids": p.rejected})
	}
	spec := map[string]any{
		"model_config": map[string]any{
			"model_type": "qwen3_moe", "vocab_size": 259, "hidden_size": 32, "intermediate_size": 64,
			"moe_intermediate_size": 16, "num_experts": 4, "num_experts_per_tok": 2, "norm_topk_prob": true,
			"router_aux_loss_coef": 0.05, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
			"head_dim": 8, "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "hidden_act": "silu",
			"tie_word_embeddings": false, "initializer_range": 0.2, "bos_token_id": 256, "eos_token_id": 257,
		},
		"init_seed": 3,
		"pairs":     pyPairs,
		"cases":     cases,
	}
	specPath := filepath.Join(dir, "spec.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	trlDir := filepath.Join(dir, "trl")
	if out, err := exec.Command(py, testrefs.OracleScript("trl_train.py"), specPath, trlDir).CombinedOutput(); err != nil {
		t.Fatalf("trl_train.py: %v\n%s", err, out)
	}
	t.Logf("TRL: %d runs in %v", len(cases), time.Since(start).Round(time.Second))
	modelDir := filepath.Join(trlDir, "model")
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			var trl struct {
				History []map[string]any `json:"log_history"`
				RefC    []float64        `json:"ref_chosen_logps"`
				RefR    []float64        `json:"ref_rejected_logps"`
			}
			readJSON(t, filepath.Join(trlDir, tc.Name, "log.json"), &trl)
			refs := make([][2]float64, nPairs)
			for k, i := range perm {
				refs[i] = [2]float64{trl.RefC[k], trl.RefR[k]}
			}
			stream := filepath.Join(dir, tc.Name+".arrow")
			writeStream(t, stream, ps, refs, "")
			out := filepath.Join(dir, "go-"+tc.Name)
			if _, err := train.Run(context.Background(), trlConfig(tc, stream, out, modelDir, seed), "test", nil, nil); err != nil {
				t.Fatal(err)
			}
			ours := readMetrics(t, filepath.Join(out, train.MetricsFile))
			var theirs []map[string]any
			for _, h := range trl.History {
				if _, ok := h["loss"]; ok {
					theirs = append(theirs, h)
				}
			}
			if len(ours) != tc.MaxSteps || len(theirs) != tc.MaxSteps {
				t.Fatalf("steps: dpo-train logged %d, TRL %d, want %d", len(ours), len(theirs), tc.MaxSteps)
			}
			for k := range ours {
				for _, name := range append([]string{train.AuxLossMetric}, trlMetrics...) {
					got, want := num(t, ours[k], name), num(t, theirs[k], name)
					if !approx(got, want, 1e-4, trlFloor[name]) {
						t.Errorf("step %d %s: dpo-train %.9g, TRL %.9g (rel %.2g)", k+1, name, got, want, math.Abs(got-want)/math.Abs(want))
					}
				}
			}
			if tc.Name == "moe_config_coef" { // gradient checkpointing: the same numbers
				c := trlConfig(tc, stream, out+"-ckpt", modelDir, seed)
				c.GradCheckpointing = true
				if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
					t.Fatal(err)
				}
				for k, m := range readMetrics(t, filepath.Join(out+"-ckpt", train.MetricsFile)) {
					for _, name := range []string{"loss", train.AuxLossMetric, "grad_norm"} {
						if got, want := num(t, m, name), num(t, ours[k], name); got != want {
							t.Errorf("step %d %s with --gradient-checkpointing: %.9g, without %.9g", k+1, name, got, want)
						}
					}
				}
			}
			last := theirs[tc.MaxSteps-1]
			t.Logf("last step: loss %.6g, aux_loss %.6g, grad_norm %.3g", num(t, last, "loss"), num(t, last, train.AuxLossMetric), num(t, last, "grad_norm"))
			compareWeights(t, filepath.Join(out, "model.safetensors"), filepath.Join(trlDir, tc.Name, "model.safetensors"),
				filepath.Join(modelDir, "model.safetensors"))
			checkTrainerState(t, filepath.Join(out, fmt.Sprintf("checkpoint-%d", tc.MaxSteps), train.TrainerFile),
				filepath.Join(trlDir, tc.Name, "trainer_state.json"), tc.MaxSteps)
		})
	}
	t.Logf("total %v", time.Since(start).Round(time.Second))
}
