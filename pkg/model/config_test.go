package model

import (
	"math"
	"strings"
	"testing"
)

func TestParseConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(c *Config) string
	}{
		{"llama defaults", `{"architectures":["LlamaForCausalLM"],"model_type":"llama"}`, func(c *Config) string {
			if c.VocabSize != 32000 || c.HiddenSize != 4096 || c.IntermediateSize != 11008 || c.NumKVHeads != 32 ||
				c.HeadDim != 128 || c.MaxPositions != 2048 || c.RMSNormEps != 1e-6 || c.RopeTheta != 10000 ||
				c.TieWordEmbeddings || c.AttentionBias || c.BOSTokenID != 1 || c.EOSTokenID != 2 || c.PadTokenID != -1 {
				return "llama defaults differ"
			}
			return ""
		}},
		{"mistral defaults", `{"architectures":["MistralForCausalLM"]}`, func(c *Config) string {
			if c.NumKVHeads != 8 || c.IntermediateSize != 14336 || c.SlidingWindow != 4096 || c.MaxPositions != 131072 {
				return "mistral defaults differ"
			}
			return ""
		}},
		{"mistral null window", `{"architectures":["MistralForCausalLM"],"sliding_window":null}`, func(c *Config) string {
			if c.SlidingWindow != 0 {
				return "want no window"
			}
			return ""
		}},
		{"qwen2 biases", `{"architectures":["Qwen2ForCausalLM"],"hidden_size":64,"num_attention_heads":4,"num_key_value_heads":2}`, func(c *Config) string {
			if !c.AttentionBias || c.OutputBias || c.HeadDim != 16 || c.QKNorm || c.EOSTokenID != -1 {
				return "qwen2 flags differ"
			}
			return ""
		}},
		{"qwen3 head_dim default 128", `{"architectures":["Qwen3ForCausalLM"],"hidden_size":64,"num_attention_heads":4,"num_key_value_heads":2}`, func(c *Config) string {
			if c.HeadDim != 128 || !c.QKNorm || c.AttentionBias {
				return "qwen3 flags differ"
			}
			return ""
		}},
		{"qwen3 attention_bias", `{"architectures":["Qwen3ForCausalLM"],"attention_bias":true,"head_dim":32}`, func(c *Config) string {
			if !c.AttentionBias || !c.OutputBias || c.HeadDim != 32 {
				return "qwen3 bias flags differ"
			}
			return ""
		}},
		{"llama3 rope", `{"architectures":["LlamaForCausalLM"],"rope_theta":500000.0,"eos_token_id":[128001,128008,128009],
			"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}}`, func(c *Config) string {
			if c.RopeScaling == nil || c.RopeScaling.Factor != 8 || c.RopeScaling.OriginalMaxPositionEmbeddings != 8192 ||
				c.RopeTheta != 500000 || c.EOSTokenID != 128001 || len(c.EOSTokenIDs) != 3 {
				return "llama3 rope differs"
			}
			return ""
		}},
		{"qwen2 windows by max_window_layers", `{"architectures":["Qwen2ForCausalLM"],"num_hidden_layers":3,"use_sliding_window":true,"sliding_window":4,"max_window_layers":1}`, func(c *Config) string {
			if c.SlidingWindow != 4 || c.LayerWindow(0) != 0 || c.LayerWindow(1) != 4 || c.LayerWindow(2) != 4 {
				return "qwen2 windows differ"
			}
			return ""
		}},
		{"qwen3 windows by layer_types", `{"architectures":["Qwen3ForCausalLM"],"num_hidden_layers":2,"use_sliding_window":true,"sliding_window":8,"max_window_layers":0,"layer_types":["sliding_attention","full_attention"]}`, func(c *Config) string {
			if c.LayerWindow(0) != 8 || c.LayerWindow(1) != 0 {
				return "qwen3 windows differ"
			}
			return ""
		}},
		{"qwen2 window off", `{"architectures":["Qwen2ForCausalLM"],"use_sliding_window":false,"sliding_window":4,"max_window_layers":0}`, func(c *Config) string {
			if c.SlidingWindow != 0 || c.LayerWindow(0) != 0 {
				return "window should be off"
			}
			return ""
		}},
		{"yarn defaults", `{"architectures":["Qwen3ForCausalLM"],"max_position_embeddings":4096,"rope_scaling":{"rope_type":"yarn","factor":4.0}}`, func(c *Config) string {
			rs := c.RopeScaling
			if rs == nil || rs.OriginalMaxPositionEmbeddings != 4096 || rs.BetaFast != 32 || rs.BetaSlow != 1 || rs.Truncate == nil || !*rs.Truncate ||
				math.Abs(rs.AttentionFactor-(0.1*math.Log(4)+1)) > 1e-15 {
				return "yarn defaults differ"
			}
			return ""
		}},
		{"linear and mlp_bias", `{"architectures":["LlamaForCausalLM"],"mlp_bias":true,"rope_scaling":{"type":"linear","factor":2.0}}`, func(c *Config) string {
			if !c.MLPBias || c.RopeScaling == nil || c.RopeScaling.RopeType != "linear" || c.RopeScaling.Factor != 2 {
				return "linear/mlp_bias differ"
			}
			return ""
		}},
		{"rope_parameters (transformers v5)", `{"architectures":["LlamaForCausalLM"],"rope_parameters":{"rope_type":"default","rope_theta":1000000.0}}`, func(c *Config) string {
			if c.RopeScaling != nil || c.RopeTheta != 1e6 {
				return "rope_parameters differ"
			}
			return ""
		}},
		{"gpt2 defaults", `{"architectures":["GPT2LMHeadModel"],"model_type":"gpt2"}`, func(c *Config) string {
			if c.VocabSize != 50257 || c.HiddenSize != 768 || c.IntermediateSize != 3072 || c.NumLayers != 12 ||
				c.HeadDim != 64 || c.MaxPositions != 1024 || c.LayerNormEps != 1e-5 || !c.TieWordEmbeddings ||
				c.HiddenAct != "gelu_new" || c.EOSTokenID != 50256 {
				return "gpt2 defaults differ"
			}
			return ""
		}},
		{"mistral null kv heads", `{"architectures":["MistralForCausalLM"],"num_attention_heads":4,"hidden_size":64,"num_key_value_heads":null}`, func(c *Config) string {
			if c.NumKVHeads != 4 || c.HeadDim != 16 {
				return "null num_key_value_heads should mean num_attention_heads"
			}
			return ""
		}},
		{"qwen3 null head_dim", `{"architectures":["Qwen3ForCausalLM"],"num_attention_heads":4,"num_key_value_heads":4,"hidden_size":64,"head_dim":null}`, func(c *Config) string {
			if c.HeadDim != 16 {
				return "null head_dim should mean hidden/heads"
			}
			return ""
		}},
		{"model_type only", `{"model_type":"qwen2"}`, func(c *Config) string {
			if c.Arch != ArchQwen2 {
				return "want qwen2"
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
				t.Errorf("%s: %+v", msg, c)
			}
		})
	}
}

func TestParseConfigRejects(t *testing.T) {
	tests := []struct{ json, field string }{
		{`{"architectures":["BertForMaskedLM"]}`, "architectures"},
		{`{"model_type":"bert"}`, "model_type"},
		{`{}`, "architectures"},
		{`{"architectures":["LlamaForCausalLM"],"rope_scaling":{"type":"linear"}}`, "rope_scaling"},
		{`{"architectures":["LlamaForCausalLM"],"rope_scaling":{"rope_type":"longrope","factor":2.0}}`, "rope_scaling"},
		{`{"architectures":["LlamaForCausalLM"],"rope_scaling":{"rope_type":"llama3","factor":8.0}}`, "rope_scaling"},
		{`{"architectures":["LlamaForCausalLM"],"rope_parameters":{"rope_type":"linear","factor":2.0,"partial_rotary_factor":0.5}}`, "rope_parameters"},
		{`{"architectures":["LlamaForCausalLM"],"mlp_bias":3}`, "mlp_bias"},
		{`{"architectures":["LlamaForCausalLM"],"hidden_act":"gelu"}`, "hidden_act"},
		{`{"architectures":["Qwen2ForCausalLM"],"num_hidden_layers":2,"layer_types":["full_attention","sliding_attention"]}`, "layer_types"},
		{`{"architectures":["Qwen3ForCausalLM"],"num_hidden_layers":2,"use_sliding_window":true,"layer_types":["full_attention"]}`, "layer_types"},
		{`{"architectures":["Qwen3ForCausalLM"],"use_sliding_window":true,"sliding_window":-1}`, "sliding_window"},
		{`{"architectures":["GPT2LMHeadModel"],"scale_attn_by_inverse_layer_idx":true}`, "scale_attn_by_inverse_layer_idx"},
		{`{"architectures":["GPT2LMHeadModel"],"reorder_and_upcast_attn":true}`, "reorder_and_upcast_attn"},
		{`{"architectures":["GPT2LMHeadModel"],"activation_function":"relu"}`, "activation_function"},
		{`{"architectures":["GPT2LMHeadModel"],"add_cross_attention":true}`, "add_cross_attention"},
		{`{"architectures":["LlamaForCausalLM"],"num_attention_heads":8,"num_key_value_heads":3}`, "num_key_value_heads"},
		{`{"architectures":["LlamaForCausalLM"],"hidden_size":"big"}`, "hidden_size"},
		{`{"architectures":["LlamaForCausalLM"],"hidden_size":-3}`, "hidden_size"},
		{`{"architectures":["LlamaForCausalLM"],"model_type":"gpt2"}`, "model_type"},
		{`[1,2]`, "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if err == nil {
				t.Fatalf("ParseConfig(%s): want error naming %q", tt.json, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestCheckSeqLen(t *testing.T) {
	c, err := ParseConfig([]byte(`{"architectures":["MistralForCausalLM"],"sliding_window":16}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSeqLen(1000); err != nil {
		t.Errorf("sliding windows are implemented for any length: %v", err)
	}
	d, err := ParseConfig([]byte(`{"architectures":["LlamaForCausalLM"],"max_position_embeddings":64,"rope_scaling":{"rope_type":"dynamic","factor":2.0}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.CheckSeqLen(64) != nil || d.CheckSeqLen(65) == nil || !strings.Contains(d.CheckSeqLen(65).Error(), "dynamic") {
		t.Error("dynamic rope: want sequences over max_position_embeddings refused")
	}
	g, _ := ParseConfig([]byte(`{"architectures":["GPT2LMHeadModel"],"n_positions":32}`))
	if g.CheckSeqLen(33) == nil || g.CheckSeqLen(32) != nil {
		t.Error("GPT-2 n_positions limit not enforced")
	}
}
