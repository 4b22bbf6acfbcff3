package model

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/safetensors"
)

func TestParseQwen3Moe(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(c *Config) string
	}{
		{"defaults", `{"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3_moe"}`, func(c *Config) string {
			m := c.MoE
			if c.VocabSize != 151936 || c.HiddenSize != 2048 || c.HeadDim != 64 || c.NumKVHeads != 4 || c.NumLayers != 24 ||
				!c.QKNorm || c.TieWordEmbeddings || c.SlidingWindow != 0 || c.IntermediateSize != 6144 {
				return "Qwen3MoeConfig defaults differ"
			}
			if m.NumExperts != 128 || m.TopK != 8 || m.IntermediateSize != 768 || m.NormTopKProb || m.RouterAuxLossCoef != 0.001 ||
				m.OutputRouterLogits || len(m.Sparse) != 24 || !c.LayerMoE(0) || !c.LayerMoE(23) || c.LayerMoE(24) {
				return "MoE defaults differ"
			}
			return ""
		}},
		// Qwen3-30B-A3B's own config.json spelling.
		{"qwen3-30b-a3b", `{"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3_moe","hidden_size":2048,"head_dim":128,
			"num_attention_heads":32,"num_key_value_heads":4,"num_hidden_layers":48,"num_experts":128,"num_experts_per_tok":8,
			"moe_intermediate_size":768,"decoder_sparse_step":1,"mlp_only_layers":[],"norm_topk_prob":true,"output_router_logits":false,
			"router_aux_loss_coef":0.001,"use_sliding_window":false,"sliding_window":null,"max_window_layers":48,"rope_theta":1000000.0}`,
			func(c *Config) string {
				if c.HeadDim != 128 || !c.MoE.NormTopKProb || !c.HasMoE() || len(c.MoE.Sparse) != 48 || c.RopeTheta != 1e6 {
					return "Qwen3-30B-A3B differs"
				}
				return ""
			}},
		// transformers 5's save_pretrained writes num_local_experts.
		{"saved spelling", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":4,"num_local_experts":6,"num_experts_per_tok":2,
			"mlp_only_layers":[0],"decoder_sparse_step":2,"router_aux_loss_coef":0.02,"use_sliding_window":true,"sliding_window":7}`,
			func(c *Config) string {
				if c.MoE.NumExperts != 6 || c.MoE.RouterAuxLossCoef != 0.02 || c.SlidingWindow != 7 || c.LayerWindow(3) != 7 {
					return "fields differ"
				}
				// mlp_only_layers [0]; (l+1) % 2 == 0: layers 1 and 3.
				for l, want := range []bool{false, true, false, true} {
					if c.LayerMoE(l) != want {
						return "sparse layers differ"
					}
				}
				return ""
			}},
		{"no experts", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":2,"num_experts":0}`, func(c *Config) string {
			if c.HasMoE() || c.LayerMoE(0) {
				return "num_experts 0 must leave every layer dense"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.want(c); msg != "" {
				t.Errorf("%s: %+v", msg, c.MoE)
			}
		})
	}
}

func TestParseQwen3MoeRefused(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"top-k over experts", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":1,"num_experts":4,"num_experts_per_tok":5}`, "num_experts_per_tok"},
		{"sparse step 0", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":1,"decoder_sparse_step":0}`, "decoder_sparse_step"},
		{"mlp_only_layers range", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":2,"mlp_only_layers":[2]}`, "mlp_only_layers"},
		{"mlp_only_layers type", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":2,"mlp_only_layers":"0"}`, "mlp_only_layers"},
		{"shared experts", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":2,"shared_expert_intermediate_size":8}`, "shared"},
		{"moe width", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":2,"moe_intermediate_size":0}`, "moe_intermediate_size"},
		{"model_type mismatch", `{"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3"}`, "model_type"},
		{"qwen2 moe", `{"architectures":["Qwen2MoeForCausalLM"]}`, "Qwen3MoeForCausalLM is"},
		{"negative aux coef", `{"architectures":["Qwen3MoeForCausalLM"],"num_hidden_layers":1,"router_aux_loss_coef":-0.1}`, "router_aux_loss_coef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error naming %q, got %v", tt.want, err)
			}
		})
	}
}

// TestQwen3MoeSpecsAndFusedLoad: a routed layer has each expert's
// gate/up/down_proj and the router, a dense layer (mlp_only_layers) the
// gated MLP; a file with the experts fused ([E, 2I, H] rows [gate; up],
// [E, H, I]) loads as the same per-expert tensors, and Save writes them per
// expert.
func TestQwen3MoeSpecsAndFusedLoad(t *testing.T) {
	js := `{"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3_moe","vocab_size":16,"hidden_size":8,"intermediate_size":12,
		"num_attention_heads":2,"num_key_value_heads":1,"head_dim":4,"num_hidden_layers":2,"num_experts":3,"num_experts_per_tok":2,
		"moe_intermediate_size":5,"mlp_only_layers":[1]}`
	cfg, err := ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{}
	for _, s := range ParamSpecs(cfg) {
		shapes[s.Name] = s.Shape
	}
	for name, want := range map[string][]int{
		"model.layers.0.mlp.experts.2.gate_proj.weight": {5, 8}, "model.layers.0.mlp.experts.0.down_proj.weight": {8, 5},
		"model.layers.0.mlp.gate.weight": {3, 8}, "model.layers.1.mlp.gate_proj.weight": {12, 8}, "lm_head.weight": {16, 8},
	} {
		if got := shapes[name]; !equalShape(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
	if _, ok := shapes["model.layers.0.mlp.gate_proj.weight"]; ok {
		t.Error("a routed layer has a dense gate_proj")
	}
	ck := RandomInit(cfg, 1)
	dir := t.TempDir()
	if err := Save(dir, ck, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	// Rewrite the file with layer 0's experts fused.
	var out []*safetensors.Tensor
	var gu, down []byte
	for _, s := range ParamSpecs(cfg) {
		t := ck.Tensors[s.Name]
		switch {
		case strings.HasPrefix(s.Name, "model.layers.0.mlp.experts.") && !strings.HasSuffix(s.Name, "down_proj.weight"):
			gu = append(gu, t.Data...) // gate_proj then up_proj of each expert, in spec order
		case strings.HasPrefix(s.Name, "model.layers.0.mlp.experts."):
			down = append(down, t.Data...)
		default:
			out = append(out, t)
		}
	}
	out = append(out, &safetensors.Tensor{Name: "model.layers.0.mlp.experts.gate_up_proj", DType: safetensors.F32, Shape: []int{3, 10, 8}, Data: gu},
		&safetensors.Tensor{Name: "model.layers.0.mlp.experts.down_proj", DType: safetensors.F32, Shape: []int{3, 8, 5}, Data: down})
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFile), out, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	for name, want := range ck.Tensors {
		got := back.Tensors[name]
		if got == nil || !equalShape(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: the fused file loads differently", name)
		}
	}
	dir2 := t.TempDir()
	if err := Save(dir2, back, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(filepath.Join(dir2, safetensors.SingleFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Tensor("model.layers.0.mlp.experts.1.up_proj.weight"); !ok {
		t.Errorf("Save did not write per-expert tensors: %v", f.Names())
	}
	// A fused tensor of the wrong shape names itself.
	out[len(out)-1].Shape = []int{3, 5, 8}
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFile), out, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "experts.down_proj") {
		t.Errorf("want an error naming the fused tensor, got %v", err)
	}
}
