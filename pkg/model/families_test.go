package model

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseConfigFamilies(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(c *Config) string
	}{
		{"gemma2 defaults", `{"architectures":["Gemma2ForCausalLM"],"model_type":"gemma2"}`, func(c *Config) string {
			if c.VocabSize != 256000 || c.HiddenSize != 2304 || c.HeadDim != 256 || c.NumKVHeads != 4 || !c.TieWordEmbeddings ||
				c.AttnSoftcap != 50 || c.FinalSoftcap != 30 || c.QueryPreAttnScalar != 256 || c.NormOffset != 1 ||
				!c.SandwichNorms || c.QKNorm || c.HiddenAct != "gelu_pytorch_tanh" || c.RopeTheta != 10000 ||
				c.EmbedScale != float64(float32(math.Sqrt(2304))) || c.BOSTokenID != 2 || c.EOSTokenID != 1 {
				return "gemma2 defaults differ"
			}
			// layer_types default: sliding, full, sliding, ...
			if c.SlidingWindow != 4096 || c.LayerWindow(0) != 4096 || c.LayerWindow(1) != 0 || c.LayerWindow(24) != 4096 {
				return "gemma2 layer pattern differs"
			}
			return ""
		}},
		{"gemma2 null caps", `{"architectures":["Gemma2ForCausalLM"],"attn_logit_softcapping":null,"final_logit_softcapping":null,"num_hidden_layers":2}`, func(c *Config) string {
			if c.AttnSoftcap != 0 || c.FinalSoftcap != 0 {
				return "want no soft-capping"
			}
			return ""
		}},
		{"gemma3 text v4 spelling", `{"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","num_hidden_layers":12,
			"rope_theta":1000000.0,"rope_local_base_freq":10000.0,"rope_scaling":{"rope_type":"linear","factor":8.0},
			"attn_logit_softcapping":50.0,"sliding_window":512}`, func(c *Config) string {
			if !c.QKNorm || c.AttnSoftcap != 0 || c.FinalSoftcap != 0 || c.MaxPositions != 131072 || c.VocabSize != 262208 {
				return "gemma3 flags differ"
			}
			// 5:1: layers 5 and 11 are global.
			for l := range 12 {
				want := 512
				if l == 5 || l == 11 {
					want = 0
				}
				if c.LayerWindow(l) != want {
					return "gemma3 pattern differs"
				}
			}
			th, rs := c.LayerRope(5)
			lth, lrs := c.LayerRope(0)
			if th != 1e6 || rs == nil || rs.RopeType != "linear" || rs.Factor != 8 || lth != 1e4 || lrs != nil {
				return "gemma3 ropes differ"
			}
			return ""
		}},
		{"gemma3 v5 rope_parameters", `{"architectures":["Gemma3ForCausalLM"],"num_hidden_layers":2,"layer_types":["sliding_attention","full_attention"],
			"rope_parameters":{"full_attention":{"rope_type":"linear","factor":8.0,"rope_theta":1000000.0},"sliding_attention":{"rope_type":"default","rope_theta":10000.0}}}`, func(c *Config) string {
			th, rs := c.LayerRope(1)
			lth, lrs := c.LayerRope(0)
			if th != 1e6 || rs == nil || rs.Factor != 8 || lth != 1e4 || lrs != nil {
				return "gemma3 ropes differ"
			}
			return ""
		}},
		{"phi3 defaults", `{"architectures":["Phi3ForCausalLM"],"model_type":"phi3"}`, func(c *Config) string {
			if c.VocabSize != 32064 || c.HeadDim != 96 || c.NumKVHeads != 32 || c.RMSNormEps != 1e-5 || c.TieWordEmbeddings ||
				!c.FusedQKV || !c.FusedGateUp || c.RotaryDim != 0 || c.SlidingWindow != 0 || c.RopeScaling != nil || c.PadTokenID != -1 {
				return "phi3 defaults differ"
			}
			return ""
		}},
		// Phi-3-mini-128k's spelling (transformers 4): rope_scaling "longrope"
		// with top-level original_max_position_embeddings and sliding_window.
		{"phi3 longrope v4", `{"architectures":["Phi3ForCausalLM"],"hidden_size":64,"num_attention_heads":4,"max_position_embeddings":131072,
			"original_max_position_embeddings":4096,"sliding_window":262144,"partial_rotary_factor":0.75,
			"rope_scaling":{"type":"longrope","short_factor":[1,1,1,1,1,1],"long_factor":[2,2,2,2,2,2]}}`, func(c *Config) string {
			rs := c.RopeScaling
			if rs == nil || rs.RopeType != "longrope" || rs.OriginalMaxPositionEmbeddings != 4096 || rs.Factor != 32 ||
				math.Abs(rs.AttentionFactor-math.Sqrt(1+math.Log(32)/math.Log(4096))) > 1e-15 || c.RotaryDim != 12 || c.SlidingWindow != 262144 {
				return "phi3 longrope differs"
			}
			if c.CheckSeqLen(4096) != nil || c.CheckSeqLen(4097) == nil {
				return "phi3 longrope: want sequences beyond original_max_position_embeddings refused"
			}
			return ""
		}},
		{"olmo2 defaults", `{"architectures":["Olmo2ForCausalLM"],"model_type":"olmo2"}`, func(c *Config) string {
			if c.VocabSize != 50304 || c.NumKVHeads != 32 || c.HeadDim != 128 || c.RMSNormEps != 1e-5 || c.TieWordEmbeddings ||
				!c.PostNorms || !c.QKNormFull || c.QKNorm || c.NormOffset != 0 || c.EmbedScale != 0 || c.EOSTokenID != 50279 {
				return "olmo2 defaults differ"
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.want(c); msg != "" {
				t.Errorf("%s: %+v", msg, *c)
			}
		})
	}
}

func TestParseConfigFamiliesRefused(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"gemma3 multimodal", `{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3"}`, "vision tower"},
		{"gemma3 multimodal by type", `{"model_type":"gemma3"}`, "vision tower"},
		{"phi3 rope type", `{"architectures":["Phi3ForCausalLM"],"rope_scaling":{"type":"linear","factor":2.0}}`, "rope type"},
		{"phi3 longrope factors", `{"architectures":["Phi3ForCausalLM"],"hidden_size":64,"num_attention_heads":4,
			"rope_scaling":{"type":"longrope","short_factor":[1.0],"long_factor":[1.0]}}`, "short_factor"},
		{"phi3 odd rotary", `{"architectures":["Phi3ForCausalLM"],"hidden_size":64,"num_attention_heads":4,"partial_rotary_factor":0.2}`, "partial_rotary_factor"},
		{"mixtral", `{"architectures":["MixtralForCausalLM"]}`, "mixture-of-experts"},
		{"unknown lists supported", `{"architectures":["FalconForCausalLM"]}`, "Gemma2ForCausalLM"},
		{"bidirectional", `{"architectures":["Gemma3ForCausalLM"],"use_bidirectional_attention":true}`, "use_bidirectional_attention"},
		{"gemma activation", `{"architectures":["Gemma2ForCausalLM"],"hidden_activation":"relu"}`, "hidden_activation"},
		{"gemma sliding without window", `{"architectures":["Gemma2ForCausalLM"],"sliding_window":null}`, "sliding_window"},
		{"gemma layer_types length", `{"architectures":["Gemma2ForCausalLM"],"num_hidden_layers":2,"layer_types":["full_attention"]}`, "layer_types"},
		{"gemma3 local rope type", `{"architectures":["Gemma3ForCausalLM"],"rope_parameters":{"sliding_attention":{"rope_type":"longrope"}}}`, "sliding_attention"},
		{"olmo2 partial rotary", `{"architectures":["Olmo2ForCausalLM"],"partial_rotary_factor":0.5}`, "partial_rotary_factor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParamSpecsFamilies(t *testing.T) {
	parse := func(js string) *Config {
		c, err := ParseConfig([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	names := func(c *Config) []string {
		var out []string
		for _, s := range ParamSpecs(c) {
			if strings.HasPrefix(s.Name, "model.layers.0.") {
				out = append(out, strings.TrimPrefix(s.Name, "model.layers.0."))
			}
		}
		return out
	}
	g3 := parse(`{"architectures":["Gemma3ForCausalLM"],"num_hidden_layers":2,"hidden_size":32,"head_dim":8,"num_attention_heads":4,"num_key_value_heads":2}`)
	want := []string{"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
		"self_attn.q_norm.weight", "self_attn.k_norm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
		"input_layernorm.weight", "post_attention_layernorm.weight", "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight"}
	if got := names(g3); !slices.Equal(got, want) {
		t.Errorf("gemma3 layer tensors %v, want %v", got, want)
	}
	for _, s := range ParamSpecs(g3) {
		if strings.Contains(s.Name, "norm") && s.Init != InitZeros {
			t.Errorf("%s: Gemma's (1+w) norm scales are initialised to zero", s.Name)
		}
	}
	p3 := parse(`{"architectures":["Phi3ForCausalLM"],"num_hidden_layers":2,"hidden_size":32,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":48}`)
	want = []string{"self_attn.o_proj.weight", "self_attn.qkv_proj.weight", "mlp.gate_up_proj.weight", "mlp.down_proj.weight",
		"input_layernorm.weight", "post_attention_layernorm.weight"}
	if got := names(p3); !slices.Equal(got, want) {
		t.Errorf("phi3 layer tensors %v, want %v", got, want)
	}
	for _, s := range ParamSpecs(p3) {
		if s.Name == "model.layers.0.self_attn.qkv_proj.weight" && !slices.Equal(s.Shape, []int{32 + 2*16, 32}) ||
			s.Name == "model.layers.0.mlp.gate_up_proj.weight" && !slices.Equal(s.Shape, []int{96, 32}) {
			t.Errorf("phi3 %s shape %v", s.Name, s.Shape)
		}
	}
	o2 := parse(`{"architectures":["Olmo2ForCausalLM"],"num_hidden_layers":2,"hidden_size":32,"num_attention_heads":4,"num_key_value_heads":2}`)
	want = []string{"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
		"self_attn.q_norm.weight", "self_attn.k_norm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
		"post_attention_layernorm.weight", "post_feedforward_layernorm.weight"}
	if got := names(o2); !slices.Equal(got, want) {
		t.Errorf("olmo2 layer tensors %v, want %v", got, want)
	}
	for _, s := range ParamSpecs(o2) {
		if s.Name == "model.layers.0.self_attn.k_norm.weight" && !slices.Equal(s.Shape, []int{16}) {
			t.Errorf("olmo2 k_norm shape %v, want [16] (num_key_value_heads*head_dim)", s.Shape)
		}
	}
}
