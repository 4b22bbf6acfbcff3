package train_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

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

	modelConfig := map[string]any{
		"model_type": "qwen3_moe", "vocab_size": 259, "hidden_size": 32, "intermediate_size": 64,
		"moe_intermediate_size": 16, "num_experts": 4, "num_experts_per_tok": 2, "norm_topk_prob": true,
		"router_aux_loss_coef": 0.05, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"head_dim": 8, "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "hidden_act": "silu",
		"tie_word_embeddings": false, "initializer_range": 0.2, "bos_token_id": 256, "eos_token_id": 257,
	}
	trlDir, modelDir := runTRL(t, py, dir, modelConfig, 3, ps, perm, cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			trl, refs := readTRLLog(t, trlDir, tc.Name, perm)
			stream := filepath.Join(dir, tc.Name+".arrow")
			writeStream(t, stream, ps, refs, "")
			out := filepath.Join(dir, "go-"+tc.Name)
			if _, err := train.Run(context.Background(), trlConfig(tc, stream, out, modelDir, seed), "test", nil, nil); err != nil {
				t.Fatal(err)
			}
			ours := readMetrics(t, filepath.Join(out, train.MetricsFile))
			theirs := trl.trainLogs()
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
						// Bit for bit on the Go backend; XLA fuses the
						// rematerialised forward differently (docs/oracles.md).
						if got, want := num(t, m, name), num(t, ours[k], name); got != want && !(onXLA(t) && approx(got, want, 1e-6, 0)) {
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
}
