package engine

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// moeCases are Qwen3-MoE checkpoints: renormalised top-2 of 6 experts with
// an untied head; top-3 of 5 without renormalisation, a dense layer
// (mlp_only_layers) and a tied head; every other layer routed
// (decoder_sparse_step 2) with a sliding window, from a file holding the
// experts fused as transformers 5 keeps them in memory. The first two check
// one DPO step's gradients with the router aux loss weighted 0.5.
func moeCases() []familyCase {
	type m = map[string]any
	moe := func(extra m) map[string]any {
		c := hfTiny("qwen3_moe", m{"num_key_value_heads": 2, "moe_intermediate_size": 16, "num_experts": 6,
			"num_experts_per_tok": 2, "router_aux_loss_coef": 0.01})
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	return withSequences([]familyCase{
		{hfCase: hfCase{Name: "qwen3moe_normtopk_untied", Config: moe(m{"norm_topk_prob": true})},
			grads: true, auxCoef: 0.5, saveAs: safetensors.F32},
		{hfCase: hfCase{Name: "qwen3moe_dense_layer_tied", Config: moe(m{"num_hidden_layers": 3, "mlp_only_layers": []int{1},
			"num_experts": 5, "num_experts_per_tok": 3, "tie_word_embeddings": true})},
			grads: true, auxCoef: 0.5, saveAs: safetensors.BF16},
		{hfCase: hfCase{Name: "qwen3moe_step2_window_fused", Config: moe(m{"num_hidden_layers": 3, "decoder_sparse_step": 2,
			"use_sliding_window": true, "sliding_window": 5}), Save: m{"fused": true}}, saveAs: safetensors.F32},
	}, 400)
}

// TestQwen3MoeTransformersOracle: Qwen3MoeForCausalLM checkpoints made by
// transformers 5 (random weights, float32, eager attention and experts)
// give the same completion log-probs (1e-5 relative per sequence and per
// token); one DPO sigmoid step plus 0.5 x the router aux loss has the
// aux loss of transformers' outputs.aux_loss (1e-5 relative) and torch
// autograd's gradients (per tensor, max |ours - torch| <= 1e-4 * max
// |torch| + 1e-7, every expert and the router included); the weights after
// that step, saved by model.Save, load in transformers bit for bit and
// score as ours do. No bf16 comparison: a routing decision that flips
// under bf16 rounding moves a token's log-prob by more than any tolerance
// of the dense families.
func TestQwen3MoeTransformersOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("transformers oracle: skipped with -short")
	}
	runFamilyOracle(t, moeCases())
}

// TestQwen3MoePEFTOracle: a PEFT adapter on a Qwen3-MoE's attention
// projections gives PeftModel's completion log-probs within 1e-5 relative.
// MLP targets are refused with an error naming the experts: PEFT 0.21
// maps gate_proj/up_proj/down_proj (even with a dense layer present, as
// here) and gate to target_parameters of the routed experts and router.
func TestQwen3MoePEFTOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("PEFT oracle: skipped with -short")
	}
	type m = map[string]any
	root := t.TempDir()
	c := peftCase{Name: "qwen3moe_attn", Seed: 450,
		Config: hfTiny("qwen3_moe", m{"num_hidden_layers": 3, "mlp_only_layers": []int{1}, "num_key_value_heads": 2,
			"moe_intermediate_size": 16, "num_experts": 4, "num_experts_per_tok": 2}),
		LoRA: m{"r": 4, "lora_alpha": 8, "target_modules": []string{"q_proj", "k_proj", "v_proj", "o_proj"}}}
	c.BaseDir, c.AdapterDir = filepath.Join(root, "base"), filepath.Join(root, "adapter")
	c.Seqs, c.PromptLens = loraSeqs(c.Seed, 320, 20, 5)
	r := peftOracle(t, []peftCase{c}, []peftCase{})[c.Name]
	if len(r.Logps) != len(c.Seqs) {
		t.Fatalf("oracle gave no result for %s", c.Name)
	}
	e := newTestEngine(t, Options{VocabChunk: 128})
	base, got := scoreWithAdapter(t, e, c.BaseDir, c.AdapterDir, c.Seqs, c.PromptLens)
	worst, moved := 0.0, 0.0
	for i := range got {
		worst = max(worst, relErr(got[i], r.Logps[i]))
		moved = max(moved, math.Abs(got[i]-base[i]))
		if relErr(base[i], r.BaseLogps[i]) > 1e-5 {
			t.Errorf("seq %d: base log-prob %.7g, transformers %.7g", i, base[i], r.BaseLogps[i])
		}
	}
	if worst > 1e-5 || moved < 0.1 {
		t.Errorf("base+adapter log-probs %v, PEFT %v: relative error %.2g (> 1e-5?), adapter moves them by %.3g (< 0.1?)", got, r.Logps, worst, moved)
	}
	t.Logf("max relative error %.2g; the adapter moves log-probs by up to %.3g", worst, moved)
	ck, err := model.Load(c.BaseDir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	for _, targets := range []string{"all-linear", "gate", "gate_proj", "q_proj,down_proj"} {
		lc := adapter.Config{R: 2, Alpha: 4}
		lc.ParseTargets(targets)
		if _, err := lc.Resolve(ck.Config); err == nil || !strings.Contains(err.Error(), "expert") {
			t.Errorf("target_modules %q: want an error naming the experts, got %v", targets, err)
		}
	}
}
