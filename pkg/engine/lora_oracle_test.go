package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// peftCase is one base checkpoint + PEFT adapter that
// tools/oracle/peft_lora.py creates and scores ("make"), or a base + adapter
// written by dpo that it loads with PeftModel.from_pretrained ("verify").
type peftCase struct {
	Name       string         `json:"name"`
	BaseDir    string         `json:"base_dir"`
	AdapterDir string         `json:"adapter_dir"`
	Seed       int            `json:"seed,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
	LoRA       map[string]any `json:"lora,omitempty"`
	Seqs       [][]int32      `json:"seqs"`
	PromptLens []int          `json:"prompt_lens"`
}

type peftResult struct {
	Logps      []float64   `json:"logps"`
	TokenLogps [][]float64 `json:"token_logps"`
	BaseLogps  []float64   `json:"base_logps"`
	NLoRA      int         `json:"n_lora"`
	NSaved     int         `json:"n_saved"`
}

func peftOracle(t *testing.T, makes, verifies []peftCase) map[string]peftResult {
	t.Helper()
	py := testrefs.Python(t, "torch", "transformers", "peft", "safetensors")
	var resp struct {
		Cases    map[string]peftResult `json:"cases"`
		Versions map[string]string     `json:"versions"`
	}
	testrefs.RunOracle(t, py, "peft_lora.py", map[string]any{"make": makes, "verify": verifies}, &resp)
	t.Logf("PEFT oracle %v: %d cases", resp.Versions, len(makes)+len(verifies))
	return resp.Cases
}

func loraSeqs(seed, vocab, maxLen, n int) ([][]int32, []int) {
	rng := rand.New(rand.NewPCG(uint64(seed), 5))
	var seqs [][]int32
	var prompts []int
	for j := range n {
		l := 6 + rng.IntN(maxLen-5)
		if j == 0 {
			l = maxLen
		}
		s := make([]int32, l)
		for k := range s {
			s[k] = int32(rng.IntN(vocab))
		}
		seqs = append(seqs, s)
		prompts = append(prompts, 1+rng.IntN(l-1))
	}
	return seqs, prompts
}

// loadWithAdapter loads base and adapter dirs into e and scores seqs.
func scoreWithAdapter(t *testing.T, e *Engine, baseDir, adapterDir string, seqs [][]int32, prompts []int) (base, adapted []float64) {
	t.Helper()
	ck, err := model.Load(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	m, err := e.LoadModel(ck)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ss := make([]Sequence, len(seqs))
	for i, s := range seqs {
		ss[i] = Sequence{Tokens: s, PromptLen: prompts[i]}
	}
	base, err = m.SequenceLogProbs(context.Background(), ss, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := adapter.Load(adapterDir, ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AttachAdapter(a); err != nil {
		t.Fatal(err)
	}
	adapted, err = m.SequenceLogProbs(context.Background(), ss, nil)
	if err != nil {
		t.Fatal(err)
	}
	return base, adapted
}

func relErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1)
}

// TestPEFTOracle: adapters that PEFT makes (get_peft_model on a
// transformers checkpoint, A and B redrawn non-zero, save_pretrained) load
// in the engine, and the completion log-probs of base+adapter equal
// PeftModel.from_pretrained's within 1e-5 relative (float32), for Llama,
// Mistral, Qwen2, Qwen3, Phi-3 (fused qkv_proj, gate_up_proj) and GPT-2,
// list targets, "all-linear", rsLoRA and modules_to_save.
// And adapters the adapter package writes (PEFT init for A, random B) load
// in PEFT with the same log-probs as the engine's.
func TestPEFTOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("PEFT oracle: skipped with -short")
	}
	type m = map[string]any
	root := t.TempDir()
	makes := []peftCase{
		{Name: "llama_qv_gqa", Config: hfTiny("llama", m{"num_key_value_heads": 2}),
			LoRA: m{"r": 4, "lora_alpha": 8, "target_modules": []string{"q_proj", "v_proj"}}},
		{Name: "llama_all_linear_rslora_tied", Config: hfTiny("llama", m{"tie_word_embeddings": true, "mlp_bias": true}),
			LoRA: m{"r": 3, "lora_alpha": 5, "target_modules": "all-linear", "use_rslora": true}},
		{Name: "mistral_attn_window", Config: hfTiny("mistral", m{"num_key_value_heads": 2, "sliding_window": 4}),
			LoRA: m{"r": 2, "lora_alpha": 16, "target_modules": []string{"q_proj", "k_proj", "v_proj", "o_proj"}}},
		{Name: "qwen2_seven", Config: hfTiny("qwen2", m{"num_key_value_heads": 2}),
			LoRA: m{"r": 4, "lora_alpha": 8, "target_modules": []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}},
		// modules_to_save "norm" selects every module whose name ends
		// with it, as PEFT matches: q_norm, k_norm, the layer norms, model.norm.
		{Name: "qwen3_all_linear_save_norms", Config: hfTiny("qwen3", m{"head_dim": 16, "num_key_value_heads": 2}),
			LoRA: m{"r": 8, "lora_alpha": 16, "target_modules": "all-linear", "modules_to_save": []string{"norm"}}},
		{Name: "llama_save_embed_lm_head", Config: hfTiny("llama", m{"tie_word_embeddings": false}),
			LoRA: m{"r": 4, "lora_alpha": 8, "target_modules": []string{"q_proj", "v_proj"}, "modules_to_save": []string{"embed_tokens", "lm_head"}}},
		// Phi-3's fused modules: qkv_proj [q; k; v] and gate_up_proj [gate; up].
		{Name: "phi3_fused_qkv_gate_up", Config: hfTiny("phi3", m{"pad_token_id": 0, "num_key_value_heads": 2}),
			LoRA: m{"r": 4, "lora_alpha": 8, "target_modules": []string{"qkv_proj", "gate_up_proj", "down_proj"}}},
		{Name: "phi3_all_linear_rslora_partial_rope", Config: hfTiny("phi3", m{"pad_token_id": 0, "partial_rotary_factor": 0.5}),
			LoRA: m{"r": 3, "lora_alpha": 6, "target_modules": "all-linear", "use_rslora": true}},
		{Name: "gpt2_names", Config: hfTiny("gpt2", nil),
			LoRA: m{"r": 4, "lora_alpha": 32, "target_modules": []string{"c_attn", "c_proj", "c_fc"}}},
		{Name: "gpt2_attn_untied_save_wpe_ln_f", Config: hfTiny("gpt2", m{"tie_word_embeddings": false}),
			LoRA: m{"r": 2, "lora_alpha": 4, "target_modules": []string{"c_attn"}, "modules_to_save": []string{"wpe", "ln_f"}}},
	}
	for i := range makes {
		c := &makes[i]
		c.Seed = 200 + i
		c.BaseDir = filepath.Join(root, c.Name, "base")
		c.AdapterDir = filepath.Join(root, c.Name, "adapter")
		c.Seqs, c.PromptLens = loraSeqs(c.Seed, 320, 20, 5)
	}
	// Adapters dpo writes, on bases dpo writes.
	verifies := []peftCase{{Name: "dpo_llama_all_linear"}, {Name: "dpo_gpt2_c_attn_rslora"}, {Name: "dpo_llama_save_embed_lm_head_norm"}}
	untied := tinyLlama()
	untied.TieWordEmbeddings = false
	vcfgs := []struct {
		cfg *model.Config
		lc  adapter.Config
	}{
		{tinyLlama(), adapter.Config{R: 4, Alpha: 8, TargetRegex: adapter.AllLinear}},
		{tinyGPT2(), adapter.Config{R: 2, Alpha: 3, Targets: []string{"c_attn", "c_fc"}, UseRSLoRA: true, FanInFanOut: true}},
		{untied, adapter.Config{R: 2, Alpha: 4, Targets: []string{"k_proj"}, ModulesToSave: []string{"embed_tokens", "lm_head", "norm"}}},
	}
	e := newTestEngine(t, Options{VocabChunk: 128})
	for i := range verifies {
		v := &verifies[i]
		v.BaseDir = filepath.Join(root, v.Name, "base")
		v.AdapterDir = filepath.Join(root, v.Name, "adapter")
		cfg := vcfgs[i].cfg
		cfg.InitializerRange = 0.02 // saved as 0, transformers 5.24 rejects the integer
		v.Seqs, v.PromptLens = loraSeqs(300+i, cfg.VocabSize, 18, 4)
		ts := randomTensors(t, cfg, uint64(300+i), safetensors.F32)
		ck := &model.Checkpoint{Config: cfg, Tensors: ts}
		if err := model.Save(v.BaseDir, ck, safetensors.F32); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		a, err := adapter.New(cfg, vcfgs[i].lc, rng)
		if err != nil {
			t.Fatal(err)
		}
		for _, mod := range a.Modules {
			for j := range a.Weights[mod.Name].B {
				a.Weights[mod.Name].B[j] = float32(0.3 * rng.NormFloat64())
			}
		}
		a.Saved = map[string][]float32{}
		for _, s := range a.SavedSpecs { // trained copies of base modules
			vals, err := ts[s.Name].Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for j := range vals {
				vals[j] += float32(0.3 * rng.NormFloat64())
			}
			a.Saved[s.Name] = vals
		}
		if err := adapter.Save(v.AdapterDir, a, safetensors.F32); err != nil {
			t.Fatal(err)
		}
	}
	res := peftOracle(t, makes, verifies)
	for _, c := range append(makes, verifies...) {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := res[c.Name]
			if !ok || len(r.Logps) != len(c.Seqs) {
				t.Fatalf("oracle gave no result for %s", c.Name)
			}
			base, got := scoreWithAdapter(t, e, c.BaseDir, c.AdapterDir, c.Seqs, c.PromptLens)
			worst, moved := 0.0, 0.0
			for i := range got {
				worst = max(worst, relErr(got[i], r.Logps[i]))
				moved = max(moved, math.Abs(got[i]-base[i]))
				if r.BaseLogps != nil && relErr(base[i], r.BaseLogps[i]) > 1e-5 {
					t.Errorf("seq %d: base log-prob %.7g, transformers %.7g", i, base[i], r.BaseLogps[i])
				}
			}
			if want := map[string]int{"dpo_llama_save_embed_lm_head_norm": 2 + 2*2 + 1}[c.Name]; r.NSaved != want {
				t.Errorf("PEFT loaded %d modules_to_save parameters, want %d", r.NSaved, want)
			}
			if worst > 1e-5 {
				t.Errorf("base+adapter log-probs %v, PEFT %v: relative error %.2g > 1e-5", got, r.Logps, worst)
			}
			if moved < 0.1 { // the adapter must matter, or the test proves nothing
				t.Errorf("the adapter changes the log-probs by at most %.3g", moved)
			}
			t.Logf("max relative error %.2g; the adapter moves log-probs by up to %.3g", worst, moved)
		})
	}
}
