package model

import (
	"fmt"
	"math"
	"strings"
)

// Init says how Hugging Face's _init_weights initialises a parameter.
type Init int

const (
	// InitNormal: normal(0, Std) (nn.Linear, nn.Embedding, GPT-2 Conv1D).
	InitNormal Init = iota
	// InitOnes: norm scales (RMSNorm, LayerNorm weight).
	InitOnes
	// InitZeros: biases.
	InitZeros
)

// ParamSpec is one trainable tensor of a model with its exact Hugging Face
// name and shape.
type ParamSpec struct {
	Name  string
	Shape []int
	// NoDecay marks norms and biases, which HF's Trainer excludes from
	// weight decay.
	NoDecay bool
	// Init and Std describe HF's initialisation (Std only for InitNormal).
	Init Init
	Std  float64
}

// ParamSpecs lists the parameters of cfg's architecture in the order the
// transformers module registers them (the order of model.state_dict()).
// Shapes follow PyTorch: nn.Linear weights are [out, in]; GPT-2's Conv1D
// weights are [in, out]. lm_head.weight is listed only when the embeddings
// are not tied.
func ParamSpecs(cfg *Config) []ParamSpec {
	if cfg.Arch == ArchGPT2 {
		return gpt2Specs(cfg)
	}
	return llamaSpecs(cfg)
}

func weight(name string, std float64, shape ...int) ParamSpec {
	return ParamSpec{Name: name, Shape: shape, Init: InitNormal, Std: std}
}

func norm(name string, shape ...int) ParamSpec {
	return ParamSpec{Name: name, Shape: shape, NoDecay: true, Init: InitOnes}
}

func bias(name string, shape ...int) ParamSpec {
	return ParamSpec{Name: name, Shape: shape, NoDecay: true, Init: InitZeros}
}

// llamaSpecs mirrors modeling_llama.py / modeling_mistral.py /
// modeling_qwen2.py / modeling_qwen3.py: LlamaModel(embed_tokens, layers,
// norm) + lm_head; each decoder layer holds self_attn (q,k,v,o_proj, and
// Qwen3's q_norm/k_norm), mlp (gate,up,down_proj), input_layernorm and
// post_attention_layernorm.
func llamaSpecs(c *Config) []ParamSpec {
	H, I, V, hd := c.HiddenSize, c.IntermediateSize, c.VocabSize, c.HeadDim
	q, kv := c.NumHeads*hd, c.NumKVHeads*hd
	std := c.InitializerRange
	specs := []ParamSpec{weight("model.embed_tokens.weight", std, V, H)}
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		if c.FusedQKV { // Phi-3: o_proj is registered before qkv_proj
			specs = append(specs, weight(p+"self_attn.o_proj.weight", std, H, q), weight(p+"self_attn.qkv_proj.weight", std, q+2*kv, H),
				weight(p+"mlp.gate_up_proj.weight", std, 2*I, H), weight(p+"mlp.down_proj.weight", std, H, I))
			specs = append(specs, blockNorms(c, p)...)
			continue
		}
		specs = append(specs, weight(p+"self_attn.q_proj.weight", std, q, H))
		if c.AttentionBias {
			specs = append(specs, bias(p+"self_attn.q_proj.bias", q))
		}
		specs = append(specs, weight(p+"self_attn.k_proj.weight", std, kv, H))
		if c.AttentionBias {
			specs = append(specs, bias(p+"self_attn.k_proj.bias", kv))
		}
		specs = append(specs, weight(p+"self_attn.v_proj.weight", std, kv, H))
		if c.AttentionBias {
			specs = append(specs, bias(p+"self_attn.v_proj.bias", kv))
		}
		specs = append(specs, weight(p+"self_attn.o_proj.weight", std, H, q))
		if c.OutputBias {
			specs = append(specs, bias(p+"self_attn.o_proj.bias", H))
		}
		if c.QKNorm {
			specs = append(specs, c.norm(p+"self_attn.q_norm.weight", hd), c.norm(p+"self_attn.k_norm.weight", hd))
		}
		if c.QKNormFull {
			specs = append(specs, c.norm(p+"self_attn.q_norm.weight", q), c.norm(p+"self_attn.k_norm.weight", kv))
		}
		if c.LayerMoE(i) { // Qwen3-MoE: experts and router instead of the MLP
			specs = append(specs, moeSpecs(c, p)...)
			specs = append(specs, blockNorms(c, p)...)
			continue
		}
		for _, m := range []struct {
			name    string
			out, in int
		}{{"gate_proj", I, H}, {"up_proj", I, H}, {"down_proj", H, I}} {
			specs = append(specs, weight(p+"mlp."+m.name+".weight", std, m.out, m.in))
			if c.MLPBias {
				specs = append(specs, bias(p+"mlp."+m.name+".bias", m.out))
			}
		}
		specs = append(specs, blockNorms(c, p)...)
	}
	specs = append(specs, c.norm("model.norm.weight", H))
	if !c.TieWordEmbeddings {
		specs = append(specs, weight("lm_head.weight", std, V, H))
	}
	return specs
}

// blockNorms are a decoder layer's norms in registration order: Llama's
// input_layernorm and post_attention_layernorm; Gemma's four (input,
// post-attention, pre- and post-feedforward); OLMo 2's two post-norms.
func blockNorms(c *Config, p string) []ParamSpec {
	H := c.HiddenSize
	switch {
	case c.SandwichNorms:
		return []ParamSpec{c.norm(p+"input_layernorm.weight", H), c.norm(p+"post_attention_layernorm.weight", H),
			c.norm(p+"pre_feedforward_layernorm.weight", H), c.norm(p+"post_feedforward_layernorm.weight", H)}
	case c.PostNorms:
		return []ParamSpec{c.norm(p+"post_attention_layernorm.weight", H), c.norm(p+"post_feedforward_layernorm.weight", H)}
	}
	return []ParamSpec{c.norm(p+"input_layernorm.weight", H), c.norm(p+"post_attention_layernorm.weight", H)}
}

// norm is an RMSNorm scale: initialised to ones, or to zeros for Gemma's
// (1 + w) norms (NormOffset 1), as transformers' _init_weights does.
func (c *Config) norm(name string, shape ...int) ParamSpec {
	s := norm(name, shape...)
	if c.NormOffset != 0 {
		s.Init = InitZeros
	}
	return s
}

// GPT2Prefix is the module prefix GPT2LMHeadModel gives its transformer.
// Original OpenAI/HF "gpt2" files store names without it; Load accepts
// both, Save writes it.
const GPT2Prefix = "transformer."

// gpt2Specs mirrors modeling_gpt2.py: GPT2Model(wte, wpe, h, ln_f); each
// block has ln_1, attn(c_attn, c_proj), ln_2, mlp(c_fc, c_proj), all
// Conv1D with weight [in, out]. _init_weights scales the std of every
// "c_proj.weight" by 1/sqrt(2*n_layer) (GPT-2 paper scheme).
func gpt2Specs(c *Config) []ParamSpec {
	H, I, V, P := c.HiddenSize, c.IntermediateSize, c.VocabSize, c.MaxPositions
	std := c.InitializerRange
	projStd := std / math.Sqrt(2*float64(c.NumLayers))
	t := GPT2Prefix
	specs := []ParamSpec{weight(t+"wte.weight", std, V, H), weight(t+"wpe.weight", std, P, H)}
	for i := 0; i < c.NumLayers; i++ {
		p := fmt.Sprintf("%sh.%d.", t, i)
		specs = append(specs,
			norm(p+"ln_1.weight", H), bias(p+"ln_1.bias", H),
			weight(p+"attn.c_attn.weight", std, H, 3*H), bias(p+"attn.c_attn.bias", 3*H),
			weight(p+"attn.c_proj.weight", projStd, H, H), bias(p+"attn.c_proj.bias", H),
			norm(p+"ln_2.weight", H), bias(p+"ln_2.bias", H),
			weight(p+"mlp.c_fc.weight", std, H, I), bias(p+"mlp.c_fc.bias", I),
			weight(p+"mlp.c_proj.weight", projStd, I, H), bias(p+"mlp.c_proj.bias", H),
		)
	}
	specs = append(specs, norm(t+"ln_f.weight", H), bias(t+"ln_f.bias", H))
	if !c.TieWordEmbeddings {
		specs = append(specs, weight("lm_head.weight", std, V, H))
	}
	return specs
}

// isBuffer reports names of non-parameter buffers that HF checkpoints may
// carry and that are recomputed rather than loaded: GPT-2's causal-mask
// "attn.bias" / "attn.masked_bias" and RoPE's "rotary_emb.inv_freq".
func isBuffer(c *Config, name string) bool {
	if strings.HasSuffix(name, "rotary_emb.inv_freq") {
		return true
	}
	if c.Arch == ArchGPT2 && (strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias")) {
		return true
	}
	return false
}
