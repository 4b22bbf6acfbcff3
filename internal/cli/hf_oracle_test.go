package cli

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
)

// runHFOracle runs tools/oracle/hf_models.py on one request.
func runHFOracle(t *testing.T, req map[string]any) map[string]struct {
	TensorsEqual bool        `json:"tensors_equal"`
	Mismatches   []string    `json:"mismatches"`
	NTensors     int         `json:"n_tensors"`
	Logps        []float64   `json:"logps"`
	TokenLogps   [][]float64 `json:"token_logps"`
} {
	t.Helper()
	py := testrefs.Python(t, "torch", "transformers", "safetensors")
	var resp struct {
		Cases map[string]struct {
			TensorsEqual bool        `json:"tensors_equal"`
			Mismatches   []string    `json:"mismatches"`
			NTensors     int         `json:"n_tensors"`
			Logps        []float64   `json:"logps"`
			TokenLogps   [][]float64 `json:"token_logps"`
		} `json:"cases"`
	}
	testrefs.RunOracle(t, py, "hf_models.py", req, &resp)
	return resp.Cases
}

// TestTrainedCheckpointLoadsInTransformers: dpo-train starts from
// checkpoints that transformers made (a float32 Qwen2 and a bfloat16 Llama
// with GQA and attention biases, both saved by save_pretrained), takes two
// optimizer steps and saves; transformers' from_pretrained loads what we
// wrote with every parameter present and bit-identical to our file, and
// its float32 per-token log-probs (log_softmax of its logits) on the saved
// model equal our engine's within 1e-5 relative.
func TestTrainedCheckpointLoadsInTransformers(t *testing.T) {
	if testing.Short() {
		t.Skip("transformers oracle: skipped with -short")
	}
	root := t.TempDir()
	tiny := func(modelType string, extra map[string]any) map[string]any {
		c := map[string]any{"model_type": modelType, "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
			"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 256}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	type tcase struct {
		name string
		cfg  map[string]any
		save map[string]any
	}
	cases := []tcase{
		{"qwen2_f32", tiny("qwen2", nil), nil},
		{"llama_bf16", tiny("llama", map[string]any{"attention_bias": true}), map[string]any{"dtype": "bfloat16"}},
		// Families with block options (docs/models.md): soft-capping and
		// (1+w) norms; fused qkv/gate_up saved back fused.
		{"gemma2_bf16", tiny("gemma2", map[string]any{"sliding_window": 6, "final_logit_softcapping": 5.5}), map[string]any{"dtype": "bfloat16"}},
		{"phi3_f32", tiny("phi3", map[string]any{"pad_token_id": 0, "partial_rotary_factor": 0.5}), nil},
	}
	rng := rand.New(rand.NewPCG(5, 5))
	var seqs [][]int32
	var prompts []int
	for range 5 {
		n := 8 + rng.IntN(20)
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(rng.IntN(300))
		}
		seqs, prompts = append(seqs, s), append(prompts, 1+rng.IntN(n-1))
	}
	var makeReq, verifyReq []map[string]any
	for i, c := range cases {
		makeReq = append(makeReq, map[string]any{"name": c.name, "dir": filepath.Join(root, c.name), "seed": 40 + i,
			"config": c.cfg, "save": c.save, "seqs": seqs, "prompt_lens": prompts})
	}
	runHFOracle(t, map[string]any{"make": makeReq})
	for _, c := range cases {
		base := filepath.Join(root, c.name)
		if err := ckpt.Write(base, ckpt.Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes"}); err != nil {
			t.Fatal(err)
		}
		ref := writeBytes(t, root, c.name+".arrow", refStream(t, base, 16))
		out := filepath.Join(root, c.name+"_trained")
		if stderr, err := runTrain("--model", base, "--out", out, "--batch-size", "4", "--max-steps", "2",
			"--lr", "1e-3", "--logging-steps", "1", "-q", ref); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, stderr)
		}
		// Training changed the weights, in the checkpoint's own dtype.
		before, err := model.Load(base)
		if err != nil {
			t.Fatal(err)
		}
		after, err := model.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		changed := 0
		for name, tn := range after.Tensors {
			if tn.DType != before.Tensors[name].DType {
				t.Errorf("%s: %s saved as %s, the base had %s", c.name, name, tn.DType, before.Tensors[name].DType)
			}
			if !bytes.Equal(tn.Data, before.Tensors[name].Data) {
				changed++
			}
		}
		before.Close()
		after.Close()
		if changed == 0 {
			t.Errorf("%s: training changed no tensor", c.name)
		}
		verifyReq = append(verifyReq, map[string]any{"name": c.name, "dir": out, "seqs": seqs, "prompt_lens": prompts})
	}
	res := runHFOracle(t, map[string]any{"verify": verifyReq})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := res[c.name]
			if !r.TensorsEqual || r.NTensors == 0 {
				t.Errorf("transformers loaded %d tensors of our checkpoint, mismatches: %v", r.NTensors, r.Mismatches)
			}
			lm, err := loadModel(filepath.Join(root, c.name+"_trained"), engine.Options{BatchTokens: 128})
			if err != nil {
				t.Fatal(err)
			}
			defer lm.Close()
			in := make([]engine.Sequence, len(seqs))
			for i := range seqs {
				in[i] = engine.Sequence{Tokens: seqs[i], PromptLen: prompts[i]}
			}
			got, err := lm.model.TokenLogProbs(context.Background(), in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.TokenLogps) != len(got) {
				t.Fatalf("transformers scored %d sequences, want %d", len(r.TokenLogps), len(got))
			}
			for i := range got {
				var sum, want float64
				for j, v := range got[i] {
					w := r.TokenLogps[i][j]
					if d := math.Abs(float64(v) - w); !(d <= 1e-5*math.Abs(w)+1e-6) {
						t.Errorf("seq %d token %d: logp %.8g, transformers %.8g", i, prompts[i]+j, v, w)
					}
					sum += float64(v)
					want += w
				}
				if !(math.Abs(sum-want) <= 1e-5*math.Abs(want)) {
					t.Errorf("seq %d: logp %.8g, transformers %.8g", i, sum, want)
				}
			}
		})
	}
}
