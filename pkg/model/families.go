package model

import (
	"fmt"
	"math"

	"github.com/dpo-go/dpo/pkg/safetensors"
)

// SupportedArchs lists the architectures ParseConfig accepts, for error
// messages.
const SupportedArchs = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, GPT2LMHeadModel, " +
	"Gemma2ForCausalLM, Gemma3ForCausalLM (text-only), Olmo2ForCausalLM, Phi3ForCausalLM, Qwen3MoeForCausalLM"

// refusedArchs are architectures users are likely to try that are refused
// with a specific reason rather than the generic list.
var refusedArchs = map[string]string{
	"Gemma3ForConditionalGeneration": "it carries a vision tower (SigLIP) and a multimodal projector; " +
		"text-only Gemma 3 checkpoints (gemma-3-1b, architectures Gemma3ForCausalLM) are supported",
	"GemmaForCausalLM":    "Gemma 1 is not implemented (Gemma2ForCausalLM and Gemma3ForCausalLM are)",
	"MixtralForCausalLM":  "this mixture-of-experts family is not implemented (Qwen3MoeForCausalLM is)",
	"OlmoeForCausalLM":    "this mixture-of-experts family is not implemented (Qwen3MoeForCausalLM is)",
	"Qwen2MoeForCausalLM": "this mixture-of-experts family (with shared experts) is not implemented (Qwen3MoeForCausalLM is)",
}

// gemmaDefaults are Gemma2Config's / Gemma3TextConfig's constructor
// defaults.
var gemmaDefaults = map[Arch]familyDefaults{
	ArchGemma2: {256000, 2304, 9216, 26, 8, 4, 256, 8192, []int{2}, []int{1}, 10000},
	ArchGemma3: {262208, 2304, 9216, 26, 8, 4, 256, 131072, []int{2}, []int{1}, 1_000_000},
}

// gemma reads a Gemma2Config or Gemma3TextConfig (configuration_gemma2.py,
// configuration_gemma3.py): the (1 + w) RMSNorms, sqrt(hidden_size)
// embedding scale, pre/post attention and feed-forward norms,
// query_pre_attn_scalar, soft-capping (Gemma 2 defaults 50 and 30; Gemma 3
// none, and its attention ignores attn_logit_softcapping as transformers'
// does), layer_types (default: every sliding_window_pattern-th layer full,
// the others sliding: 2 for Gemma 2, 6 for Gemma 3), Gemma 3's q_norm/k_norm
// and its separate rotary base for the sliding layers.
func (r rawConfig) gemma(arch Arch) (*Config, error) {
	def := gemmaDefaults[arch]
	c := &Config{Arch: arch}
	if err := r.common(c, def, "hidden_size", "intermediate_size", "num_hidden_layers",
		"num_attention_heads", "max_position_embeddings", "tie_word_embeddings", true); err != nil {
		return nil, err
	}
	var err error
	if c.NumKVHeads, err = r.int("num_key_value_heads", def.kvHeads); err != nil {
		return nil, err
	}
	if c.HeadDim, err = r.int("head_dim", def.headDim); err != nil {
		return nil, err
	}
	if c.RMSNormEps, err = r.float("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if c.HiddenAct, err = r.string("hidden_activation", "gelu_pytorch_tanh"); err != nil {
		return nil, err
	}
	switch c.HiddenAct {
	case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": // the tanh approximation
		c.HiddenAct = "gelu_pytorch_tanh"
	case "gelu":
	default:
		return nil, fmt.Errorf("field %q: activation %q is not supported (want gelu_pytorch_tanh or gelu)", "hidden_activation", c.HiddenAct)
	}
	if c.AttentionBias, err = r.bool("attention_bias", false); err != nil {
		return nil, err
	}
	c.OutputBias = c.AttentionBias
	if bi, err := r.bool("use_bidirectional_attention", false); err != nil {
		return nil, err
	} else if bi {
		return nil, fmt.Errorf("field %q: bidirectional attention is not supported", "use_bidirectional_attention")
	}
	capDef := map[Arch][2]float64{ArchGemma2: {50, 30}}[arch]
	if c.AttnSoftcap, err = r.float("attn_logit_softcapping", capDef[0]); err != nil {
		return nil, err
	}
	if c.FinalSoftcap, err = r.float("final_logit_softcapping", capDef[1]); err != nil {
		return nil, err
	}
	if v, ok := r.m["attn_logit_softcapping"]; ok && v == nil {
		c.AttnSoftcap = 0
	}
	if v, ok := r.m["final_logit_softcapping"]; ok && v == nil {
		c.FinalSoftcap = 0
	}
	if arch == ArchGemma3 {
		// Gemma3Attention (transformers 5.24) does not pass
		// attn_logit_softcapping to its attention function: the field has
		// no effect, and so it has none here.
		c.AttnSoftcap = 0
	}
	if c.AttnSoftcap < 0 || c.FinalSoftcap < 0 {
		return nil, fmt.Errorf("field %q: soft-capping must not be negative", "attn_logit_softcapping")
	}
	if c.QueryPreAttnScalar, err = r.float("query_pre_attn_scalar", 256); err != nil {
		return nil, err
	}
	if !(c.QueryPreAttnScalar > 0) {
		return nil, fmt.Errorf("field %q: must be positive, got %g", "query_pre_attn_scalar", c.QueryPreAttnScalar)
	}
	c.NormOffset = 1
	c.SandwichNorms = true
	c.QKNorm = arch == ArchGemma3
	// Gemma{2,3}TextScaledWordEmbedding: torch.tensor(hidden_size**0.5)
	// cast to the embedding's dtype (float32 here).
	c.EmbedScale = float64(float32(math.Sqrt(float64(c.HiddenSize))))

	window := 4096
	if v, ok := r.m["sliding_window"]; ok {
		if v == nil {
			window = 0
		} else if window, err = toInt("sliding_window", v); err != nil {
			return nil, err
		}
	}
	patternDef := map[Arch]int{ArchGemma2: 2, ArchGemma3: 6}[arch]
	pattern, err := r.int("sliding_window_pattern", patternDef)
	if err != nil {
		return nil, err
	}
	if pattern < 1 {
		return nil, fmt.Errorf("field %q: must be >= 1, got %d", "sliding_window_pattern", pattern)
	}
	if err := r.layerTypes(c, window, func(i int) bool { return (i+1)%pattern != 0 }); err != nil {
		return nil, err
	}
	if arch == ArchGemma2 {
		if err := r.rope(c, def.ropeTheta); err != nil {
			return nil, err
		}
		return c, nil
	}
	if err := r.gemma3Rope(c); err != nil {
		return nil, err
	}
	return c, nil
}

// layerTypes sets c.SlidingWindow/SlidingLayers from "layer_types" (a list
// of "full_attention"/"sliding_attention" of num_hidden_layers entries) or,
// without it, from def.
func (r rawConfig) layerTypes(c *Config, window int, def func(i int) bool) error {
	if c.NumLayers <= 0 {
		return nil // Validate reports num_hidden_layers
	}
	if c.NumLayers > 1<<16 {
		return fmt.Errorf("field %q: %d layers is more than this reader accepts (65536)", "num_hidden_layers", c.NumLayers)
	}
	layers, given, err := r.parseLayerTypes(c.NumLayers)
	if err != nil {
		return err
	}
	if !given {
		for i := range layers {
			layers[i] = def(i)
		}
	}
	sliding := false
	for _, s := range layers {
		sliding = sliding || s
	}
	if !sliding {
		return nil
	}
	if window <= 0 {
		return fmt.Errorf("field %q: sliding_attention layers need a positive window, got %d", "sliding_window", window)
	}
	c.SlidingWindow, c.SlidingLayers = window, layers
	return nil
}

// gemma3Rope reads Gemma3TextConfig's two rotary embeddings: transformers 5
// writes rope_parameters = {"full_attention": {...}, "sliding_attention":
// {...}}; transformers 4 wrote rope_theta (default 1e6) and rope_scaling for
// the full-attention layers and rope_local_base_freq (default 1e4) for the
// sliding ones (convert_rope_params_to_dict).
func (r rawConfig) gemma3Rope(c *Config) error {
	rp, _ := r.m["rope_parameters"].(map[string]any)
	_, keyedFull := rp["full_attention"]
	_, keyedSliding := rp["sliding_attention"]
	localTheta, err := r.float("rope_local_base_freq", 10000)
	if err != nil {
		return err
	}
	if !keyedFull && !keyedSliding {
		if err := r.rope(c, 1_000_000); err != nil {
			return err
		}
		c.LocalRopeTheta = localTheta
		return nil
	}
	// One keyed block: read it as the top-level rope_parameters of a copy
	// of the config, so the same defaults and checks apply.
	sub := func(key string, theta float64) (float64, *RopeScaling, error) {
		m := make(map[string]any, len(r.m))
		for k, v := range r.m {
			m[k] = v
		}
		delete(m, "rope_scaling")
		m["rope_theta"] = nil
		m["rope_parameters"] = rp[key]
		if rp[key] == nil {
			m["rope_parameters"] = map[string]any{}
		}
		tmp := &Config{MaxPositions: c.MaxPositions}
		if err := (rawConfig{m: m}).rope(tmp, theta); err != nil {
			return 0, nil, fmt.Errorf("rope_parameters[%q]: %w", key, err)
		}
		return tmp.RopeTheta, tmp.RopeScaling, nil
	}
	globalTheta, err := r.float("rope_theta", 1_000_000)
	if err != nil {
		return err
	}
	if c.RopeTheta, c.RopeScaling, err = sub("full_attention", globalTheta); err != nil {
		return err
	}
	if c.LocalRopeTheta, c.LocalRopeScaling, err = sub("sliding_attention", localTheta); err != nil {
		return err
	}
	return nil
}

// olmo2 reads an Olmo2Config (configuration_olmo2.py): the Llama block
// without input norms, post_attention_layernorm and
// post_feedforward_layernorm on the sublayer outputs, and q_norm/k_norm
// over the whole q and k projections.
func (r rawConfig) olmo2() (*Config, error) {
	def := familyDefaults{50304, 4096, 11008, 32, 32, 0, 0, 2048, nil, []int{50279}, 10000}
	c := &Config{Arch: ArchOlmo2}
	if err := r.common(c, def, "hidden_size", "intermediate_size", "num_hidden_layers",
		"num_attention_heads", "max_position_embeddings", "tie_word_embeddings", false); err != nil {
		return nil, err
	}
	// Olmo2Attention: getattr(config, "head_dim", hidden_size // heads).
	if err := r.headsNormSiLU(c); err != nil {
		return nil, err
	}
	var err error
	if c.AttentionBias, err = r.bool("attention_bias", false); err != nil {
		return nil, err
	}
	c.OutputBias = c.AttentionBias
	c.PostNorms, c.QKNormFull = true, true
	if err := r.rope(c, def.ropeTheta); err != nil {
		return nil, err
	}
	return c, nil
}

// SetEmbedDType rounds EmbedScale (Gemma's sqrt(hidden_size)) to the dtype
// the embedding is stored in, as transformers does when it loads the
// checkpoint in that dtype (from_pretrained's default dtype="auto"): its
// scale is a buffer cast to the embedding's dtype (bfloat16: sqrt(2304) =
// 48 exactly, sqrt(3072) = 55.5 instead of 55.43). A no-op without a scale
// or for float32.
func (c *Config) SetEmbedDType(d safetensors.DType) {
	if c.EmbedScale == 0 {
		return
	}
	s := float32(math.Sqrt(float64(c.HiddenSize)))
	switch d {
	case safetensors.BF16:
		s = safetensors.Float32FromBF16(safetensors.BF16FromFloat32(s))
	case safetensors.F16:
		s = safetensors.Float32FromF16(safetensors.F16FromFloat32(s))
	}
	c.EmbedScale = float64(s)
}

// headsNormSiLU reads what OLMo 2 and Phi-3 share: num_key_value_heads
// (default: num_attention_heads), head_dim (default hidden_size / heads, as
// getattr(config, "head_dim", hidden_size // heads)), rms_norm_eps (1e-5)
// and a SiLU hidden_act.
func (r rawConfig) headsNormSiLU(c *Config) error {
	var err error
	if c.NumKVHeads, err = r.int("num_key_value_heads", c.NumHeads); err != nil {
		return err
	}
	if !r.has("head_dim") && c.NumHeads > 0 {
		if c.HiddenSize%c.NumHeads != 0 {
			return fmt.Errorf("field %q: hidden_size %d is not divisible by num_attention_heads %d",
				"num_attention_heads", c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	} else if c.HeadDim, err = r.int("head_dim", 0); err != nil {
		return err
	}
	if c.RMSNormEps, err = r.float("rms_norm_eps", 1e-5); err != nil {
		return err
	}
	if c.HiddenAct, err = r.string("hidden_act", "silu"); err != nil {
		return err
	}
	if c.HiddenAct != "silu" && c.HiddenAct != "swish" {
		return fmt.Errorf("field %q: activation %q is not supported (want silu)", "hidden_act", c.HiddenAct)
	}
	c.HiddenAct = "silu"
	return nil
}

// parseLayerTypes reads transformers' "layer_types" (one "full_attention" or
// "sliding_attention" per layer) as a sliding flag per layer; given is
// false (all flags false) when the field is absent or null.
func (r rawConfig) parseLayerTypes(n int) (layers []bool, given bool, err error) {
	layers = make([]bool, n)
	v, ok := r.m["layer_types"]
	if !ok || v == nil {
		return layers, false, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) != n {
		return nil, false, fmt.Errorf("field %q: want a list of %d strings (num_hidden_layers), got %v", "layer_types", n, v)
	}
	for i, e := range list {
		switch e {
		case "full_attention":
		case "sliding_attention":
			layers[i] = true
		default:
			return nil, false, fmt.Errorf("field %q: layer %d has type %v; want full_attention or sliding_attention", "layer_types", i, e)
		}
	}
	return layers, true, nil
}
