package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// genCase is one random transformers checkpoint and a batch of prompts
// that tools/oracle/hf_generate.py decodes greedily.
type genCase struct {
	Name    string         `json:"name"`
	Dir     string         `json:"dir"`
	Seed    int            `json:"seed"`
	Config  map[string]any `json:"config"`
	Prompts [][]int32      `json:"prompts"`
	MaxNew  int            `json:"max_new_tokens"`
	EOS     int            `json:"eos_token_id"`
	PadID   int            `json:"pad_token_id"`
}

type genResult struct {
	Tokens  [][]int32   `json:"tokens"`
	Margins [][]float64 `json:"margins"`
}

// genCases covers every supported architecture with its options: GQA and
// biases, llama3 and yarn rope scaling, sliding windows shorter than the
// decoded sequences (Mistral, Qwen2/3, Gemma 2/3, Phi-3), Gemma's
// soft-capping and local/global layers, OLMo 2's norms, Phi-3's fused
// projections, partial rotary and longrope, GPT-2.
func genCases() []genCase {
	type m = map[string]any
	cases := []genCase{
		{Name: "llama_gqa_biases", Config: hfTiny("llama", m{"num_key_value_heads": 2, "attention_bias": true, "mlp_bias": true})},
		{Name: "llama_rope_llama3_tied", Config: hfTiny("llama", m{"rope_theta": 100.0, "tie_word_embeddings": true,
			"rope_scaling": m{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}})},
		{Name: "mistral_window4", Config: hfTiny("mistral", m{"num_key_value_heads": 2, "sliding_window": 4})},
		{Name: "qwen2_window4_tied", Config: hfTiny("qwen2", m{"num_key_value_heads": 2, "tie_word_embeddings": true,
			"use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1})},
		{Name: "qwen3_window5_yarn_bias", Config: hfTiny("qwen3", m{"head_dim": 16, "attention_bias": true, "rope_theta": 1000.0,
			"use_sliding_window": true, "sliding_window": 5, "max_window_layers": 0,
			"rope_parameters": m{"rope_type": "yarn", "rope_theta": 1000.0, "factor": 2.0, "original_max_position_embeddings": 16,
				"beta_fast": 8.0, "beta_slow": 0.5, "mscale": 1.0, "mscale_all_dim": 0.5, "truncate": false}})},
		{Name: "gemma2_window4_caps", Config: hfTiny("gemma2", m{"num_key_value_heads": 2, "query_pre_attn_scalar": 12,
			"sliding_window": 4, "attn_logit_softcapping": 2.5, "final_logit_softcapping": 3.5})},
		{Name: "gemma3_local_global", Config: hfTiny("gemma3_text", m{"num_hidden_layers": 3, "num_key_value_heads": 2,
			"sliding_window": 5, "query_pre_attn_scalar": 12, "attn_logit_softcapping": 3.5, "final_logit_softcapping": 2.5,
			"layer_types": []string{"sliding_attention", "sliding_attention", "full_attention"},
			"rope_parameters": m{"full_attention": m{"rope_type": "linear", "factor": 4.0, "rope_theta": 1000.0},
				"sliding_attention": m{"rope_type": "default", "rope_theta": 50.0}}})},
		{Name: "olmo2_gqa", Config: hfTiny("olmo2", m{"num_key_value_heads": 2})},
		{Name: "phi3_partial_window", Config: hfTiny("phi3", m{"pad_token_id": 0, "num_key_value_heads": 2, "sliding_window": 5,
			"partial_rotary_factor": 0.5})},
		{Name: "phi3_longrope_tied", Config: hfTiny("phi3", m{"pad_token_id": 0, "tie_word_embeddings": true, "original_max_position_embeddings": 64,
			"rope_parameters": m{"rope_type": "longrope", "rope_theta": 300.0, "partial_rotary_factor": 0.75,
				"short_factor": []float64{1.0, 1.7, 3.1}, "long_factor": []float64{2.0, 5.0, 9.5}}})},
		{Name: "gpt2", Config: hfTiny("gpt2", nil)},
	}
	for i := range cases {
		c := &cases[i]
		c.Seed = 500 + i
		c.MaxNew = 12
		c.EOS, c.PadID = 319, 0
		// Lengths in two prompt buckets (16 and 24), one longer than
		// every window; tokens from a fixed pattern.
		for j, n := range []int{3, 9, 17, 5, 1} {
			p := make([]int32, n)
			for k := range p {
				p[k] = int32(1 + (37*(i+1)+11*j+7*k*k+k)%300)
			}
			c.Prompts = append(c.Prompts, p)
		}
	}
	return cases
}

// greedy returns the index of the largest logit (the first on ties, as
// torch.argmax).
func greedy(logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// logSoftmaxAt returns log_softmax(logits)[i] in float64.
func logSoftmaxAt(logits []float32, i int32) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return float64(logits[i]) - mx - math.Log(s)
}

// TestGreedyMatchesTransformers: greedy decoding with the KV cache
// (Generate, rows in batches of 2 with a padding row, two prompt buckets)
// produces transformers' generate(do_sample=False) tokens on one
// left-padded batch, token for token, for every architecture (a
// divergence is only accepted where transformers' top two logits are
// within 1e-4, a float tie; none occurred when this was written). The
// log-prob of each generated token from the decode logits equals the
// training forward's (TokenLogProbs, dpo-reflogp's code) on prompt +
// completion within 2e-5 absolute + 1e-5 relative.
func TestGreedyMatchesTransformers(t *testing.T) {
	if testing.Short() {
		t.Skip("transformers oracle: skipped with -short")
	}
	py := testrefs.Python(t, "torch", "transformers", "safetensors")
	root := t.TempDir()
	cases := genCases()
	for i := range cases {
		cases[i].Dir = filepath.Join(root, cases[i].Name)
	}
	var resp struct {
		Cases    map[string]genResult `json:"cases"`
		Versions map[string]string    `json:"versions"`
	}
	testrefs.RunOracle(t, py, "hf_generate.py", map[string]any{"cases": cases}, &resp)
	e := newTestEngine(t, Options{VocabChunk: 128, BatchTokens: 128})
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, ok := resp.Cases[c.Name]
			if !ok || len(want.Tokens) != len(c.Prompts) {
				t.Fatalf("oracle gave no result for %s", c.Name)
			}
			ck, err := model.Load(c.Dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			m, err := e.LoadModel(ck)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := make([][]int32, len(c.Prompts))
			lps := make([][]float64, len(c.Prompts))
			_, err = m.Generate(context.Background(), c.Prompts, c.MaxNew, func(row int, logits []float32) (int32, bool) {
				tok := greedy(logits)
				got[row] = append(got[row], tok)
				lps[row] = append(lps[row], logSoftmaxAt(logits, tok))
				return tok, tok == int32(c.EOS)
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for r := range c.Prompts {
				compareGreedy(t, r, got[r], want.Tokens[r], want.Margins[r])
			}
			checkDecodeLogps(t, m, c.Prompts, got, lps)
		})
	}
}

// compareGreedy compares one row's tokens with transformers'.
func compareGreedy(t *testing.T, r int, got, want []int32, margins []float64) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			if margins[i] < 1e-4 {
				t.Logf("row %d: step %d diverges at a float tie (margin %g): ours %d, transformers %d", r, i, margins[i], got[i], want[i])
				return
			}
			t.Errorf("row %d: step %d: token %d, transformers %d (margin %g)\n ours %v\n want %v", r, i, got[i], want[i], margins[i], got, want)
			return
		}
	}
	if len(got) != len(want) {
		t.Errorf("row %d: %d tokens, transformers %d\n ours %v\n want %v", r, len(got), len(want), got, want)
	}
}

// checkDecodeLogps compares the decode steps' log-probs with the training
// forward's on prompt + completion.
func checkDecodeLogps(t *testing.T, m *Model, prompts, comps [][]int32, lps [][]float64) {
	t.Helper()
	seqs := make([]Sequence, len(prompts))
	for i, p := range prompts {
		seqs[i] = Sequence{Tokens: append(append([]int32(nil), p...), comps[i]...), PromptLen: len(p)}
	}
	ref, err := m.TokenLogProbs(context.Background(), seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range seqs {
		for j, want := range ref[i] {
			got := lps[i][j]
			if d := math.Abs(got - float64(want)); d > 2e-5+1e-5*math.Abs(float64(want)) {
				t.Errorf("row %d token %d: decode log-prob %.7g, forward %.7g", i, j, got, want)
			}
		}
	}
}

// TestGenerateWithAdapter: with a LoRA adapter attached (Llama on every
// linear layer, GPT-2's Conv1D c_attn and c_fc), the decode steps' log-probs
// equal the training forward's through the same adapter (which
// TestLoRAMatchesPEFT checks against PEFT) within 2e-5 absolute + 1e-5
// relative, and the adapter changes what greedy decoding writes.
func TestGenerateWithAdapter(t *testing.T) {
	for i, c := range []struct {
		cfg *model.Config
		lc  adapter.Config
	}{
		{tinyLlama(), adapter.Config{R: 4, Alpha: 8, TargetRegex: adapter.AllLinear}},
		{tinyGPT2(), adapter.Config{R: 2, Alpha: 3, Targets: []string{"c_attn", "c_fc"}, FanInFanOut: true}},
	} {
		t.Run(string(c.cfg.Arch), func(t *testing.T) {
			e := newTestEngine(t, Options{VocabChunk: 16, BatchTokens: 64})
			m, err := e.LoadWeights(c.cfg, randomTensors(t, c.cfg, uint64(40+i), safetensors.F32))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			prompts := [][]int32{{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10}, {11}}
			run := func() [][]int32 {
				got := make([][]int32, len(prompts))
				lps := make([][]float64, len(prompts))
				if _, err := m.Generate(context.Background(), prompts, 10, func(row int, logits []float32) (int32, bool) {
					tok := greedy(logits)
					got[row] = append(got[row], tok)
					lps[row] = append(lps[row], logSoftmaxAt(logits, tok))
					return tok, false
				}, nil); err != nil {
					t.Fatal(err)
				}
				checkDecodeLogps(t, m, prompts, got, lps)
				return got
			}
			base := run()
			a, err := adapter.New(c.cfg, c.lc, rng)
			if err != nil {
				t.Fatal(err)
			}
			for _, mod := range a.Modules {
				for j := range a.Weights[mod.Name].B {
					a.Weights[mod.Name].B[j] = float32(0.5 * rng.NormFloat64())
				}
			}
			if err := m.AttachAdapter(a); err != nil {
				t.Fatal(err)
			}
			if adapted := run(); reflect.DeepEqual(adapted, base) {
				t.Errorf("the adapter does not change greedy decoding: %v", base)
			}
		})
	}
}

// BenchmarkGenerate decodes 16 tokens after 64 prompts of 14 tokens with
// the sort example's model (Llama, hidden 96, 3 layers, vocab 259): one
// prefill of [64, 16] and 15 decode steps of [64, 1] over a cache of 32
// slots. It reports the time per decode step.
func BenchmarkGenerate(b *testing.B) {
	cfg, err := model.LoadConfig(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	e := newTestEngine(b, Options{})
	m, err := e.LoadWeights(cfg, randomTensors(b, cfg, 1, safetensors.F32))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	prompts := make([][]int32, 64)
	for i := range prompts {
		prompts[i] = make([]int32, 14)
		for j := range prompts[i] {
			prompts[i][j] = int32((i*7 + j*13) % 256)
		}
	}
	next := func(_ int, logits []float32) (int32, bool) { return greedy(logits), false }
	if _, err := m.Generate(context.Background(), prompts, 16, next, nil); err != nil { // compile
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var steps int
	for range b.N {
		st, err := m.Generate(context.Background(), prompts, 16, next, nil)
		if err != nil {
			b.Fatal(err)
		}
		steps += st.DecodeSteps
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps)/1e6, "ms/step(incl.prefill)")
	b.ReportMetric(float64(64*16*b.N)/b.Elapsed().Seconds(), "tok/s")
}
