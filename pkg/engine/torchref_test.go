package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// torchPython returns Debian's python3 with torch, skipping the test when
// it is missing (failing under DPO_REQUIRE_REFS=1).
func torchPython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		if os.Getenv("DPO_REQUIRE_REFS") == "1" {
			t.Fatalf("%s with torch is required (DPO_REQUIRE_REFS=1): %v", py, err)
		}
		t.Skipf("%s with torch not available: %v", py, err)
	}
	return py
}

type torchCase struct {
	name string
	cfg  *model.Config
	ts   map[string]*safetensors.Tensor
	seqs []Sequence
}

// torchTokenLogProbs runs testdata/torch_ref.py, an independent float64
// PyTorch implementation of the HF forward passes, once for all cases.
func torchTokenLogProbs(t *testing.T, cases []torchCase) [][][]float64 {
	t.Helper()
	py := torchPython(t)
	type wjson struct {
		Shape []int     `json:"shape"`
		Data  []float32 `json:"data"`
	}
	type sjson struct {
		Tokens    []int32 `json:"tokens"`
		PromptLen int     `json:"prompt_len"`
	}
	var reqs []map[string]any
	for _, tc := range cases {
		cfg := tc.cfg
		weights := map[string]wjson{}
		for name, tensor := range tc.ts {
			vals, err := tensor.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			weights[name] = wjson{tensor.Shape, vals}
		}
		arch := "llama"
		if cfg.Arch == model.ArchGPT2 {
			arch = "gpt2"
		}
		c := map[string]any{
			"arch": arch, "num_heads": cfg.NumHeads, "num_kv_heads": cfg.NumKVHeads, "head_dim": cfg.HeadDim,
			"num_layers": cfg.NumLayers, "rms_norm_eps": cfg.RMSNormEps, "layer_norm_eps": cfg.LayerNormEps,
			"rope_theta": cfg.RopeTheta, "attention_bias": cfg.AttentionBias, "output_bias": cfg.OutputBias,
			"qk_norm": cfg.QKNorm, "tie": cfg.TieWordEmbeddings,
		}
		if rs := cfg.RopeScaling; rs != nil {
			c["rope_scaling"] = map[string]any{"factor": rs.Factor, "low_freq_factor": rs.LowFreqFactor,
				"high_freq_factor": rs.HighFreqFactor, "original_max_position_embeddings": rs.OriginalMaxPositionEmbeddings}
		}
		var sj []sjson
		for _, s := range tc.seqs {
			sj = append(sj, sjson{s.Tokens, s.PromptLen})
		}
		reqs = append(reqs, map[string]any{"config": c, "weights": weights, "seqs": sj})
	}
	req, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/torch_ref.py")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("torch_ref.py: %v\n%s", err, stderr.String())
	}
	var resp [][][]float64
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp) != len(cases) {
		t.Fatalf("torch_ref.py answered %d cases, want %d", len(resp), len(cases))
	}
	return resp
}

// TestAgainstTorch compares per-token and summed log-probs with a float64
// PyTorch implementation (testdata/torch_ref.py, written from
// transformers' modeling_llama/qwen3/gpt2) for every architecture variant,
// on random weights: per token within 1e-4 relative (or 1e-5 absolute),
// sums within 1e-5 relative.
func TestAgainstTorch(t *testing.T) {
	cfgs := testConfigs()
	llama3 := tinyLlama()
	llama3.HeadDim, llama3.NumHeads, llama3.NumKVHeads, llama3.HiddenSize = 16, 2, 1, 32
	llama3.RopeTheta = 500000
	llama3.RopeScaling = &model.RopeScaling{RopeType: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64}
	cfgs["llama3-rope-scaling"] = llama3
	untied := tinyGPT2()
	untied.TieWordEmbeddings = false
	cfgs["gpt2-untied"] = untied
	biasLlama := tinyLlama()
	biasLlama.AttentionBias, biasLlama.OutputBias, biasLlama.TieWordEmbeddings = true, true, true
	cfgs["llama-bias-tied"] = biasLlama
	names := make([]string, 0, len(cfgs))
	for n := range cfgs {
		names = append(names, n)
	}
	sort.Strings(names)
	var cases []torchCase
	for i, name := range names {
		cfg := cfgs[name]
		rng := rand.New(rand.NewPCG(3, uint64(i)))
		cases = append(cases, torchCase{name, cfg, randomTensors(t, cfg, 21+uint64(i), safetensors.F32),
			randomSeqs(rng, 5, cfg.VocabSize, 2, 60)})
	}
	want := torchTokenLogProbs(t, cases)
	e := newTestEngine(t, Options{VocabChunk: 16, BatchTokens: 256})
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := e.LoadWeights(tc.cfg, tc.ts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.TokenLogProbs(context.Background(), tc.seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			sums, err := m.SequenceLogProbs(context.Background(), tc.seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.seqs {
				var wantSum float64
				for j, w := range want[ci][i] {
					wantSum += w
					g := float64(got[i][j])
					if relDiff(g, w) > 1e-4 && math.Abs(g-w) > 1e-5 {
						t.Errorf("row %d token %d: got %.7g, torch %.7g", i, j, g, w)
					}
				}
				if d := relDiff(sums[i], wantSum); d > 1e-5 {
					t.Errorf("row %d: sum %.9g, torch %.9g (rel %.2g)", i, sums[i], wantSum, d)
				}
			}
		})
	}
}
