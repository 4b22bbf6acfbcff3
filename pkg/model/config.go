package model

// Arch is the model family a config.json describes.
type Arch string

const (
	ArchLlama   Arch = "LlamaForCausalLM"
	ArchMistral Arch = "MistralForCausalLM"
	ArchQwen2   Arch = "Qwen2ForCausalLM"
	ArchQwen3   Arch = "Qwen3ForCausalLM"
	ArchGPT2    Arch = "GPT2LMHeadModel"
	ArchGemma2  Arch = "Gemma2ForCausalLM"
	ArchGemma3  Arch = "Gemma3ForCausalLM" // text-only (model_type gemma3_text)
	ArchOlmo2   Arch = "Olmo2ForCausalLM"
	ArchPhi3    Arch = "Phi3ForCausalLM"
	// ArchQwen3Moe is Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): the Qwen3
	// block with routed mixture-of-experts MLPs (Config.MoE).
	ArchQwen3Moe Arch = "Qwen3MoeForCausalLM"
)

// RopeScaling is a "rope_scaling" (transformers v5: "rope_parameters")
// block, with transformers' defaults filled in. RopeType is "linear",
// "dynamic", "yarn" or "llama3"; the fields each type reads are those of
// transformers' modeling_rope_utils (_compute_<type>_parameters).
type RopeScaling struct {
	RopeType string  `json:"rope_type"`
	Factor   float64 `json:"factor"`
	// llama3.
	LowFreqFactor  float64 `json:"low_freq_factor,omitempty"`
	HighFreqFactor float64 `json:"high_freq_factor,omitempty"`
	// llama3 and yarn: the pretraining context (default
	// max_position_embeddings, as transformers' standardize_rope_params).
	OriginalMaxPositionEmbeddings int `json:"original_max_position_embeddings,omitempty"`
	// yarn: AttentionFactor multiplies cos and sin (the config's
	// attention_factor, else derived from factor, mscale, mscale_all_dim);
	// BetaFast/BetaSlow bound the ramp (defaults 32 and 1); Truncate rounds
	// the correction range to whole dimensions (default true).
	AttentionFactor float64 `json:"attention_factor,omitempty"`
	BetaFast        float64 `json:"beta_fast,omitempty"`
	BetaSlow        float64 `json:"beta_slow,omitempty"`
	Truncate        *bool   `json:"truncate,omitempty"`
	// longrope (Phi-3): ShortFactor divides each rotary frequency
	// (head_dim*partial_rotary_factor/2 values), AttentionFactor multiplies
	// cos and sin (default sqrt(1 + ln(factor)/ln(original)), factor =
	// max_position_embeddings/original_max_position_embeddings). LongFactor
	// is used by transformers once the padded batch is longer than
	// OriginalMaxPositionEmbeddings; such sequences are refused (see
	// Config.CheckSeqLen).
	ShortFactor []float64 `json:"short_factor,omitempty"`
	LongFactor  []float64 `json:"long_factor,omitempty"`
}

// Config is the subset of a Hugging Face config.json that shapes the math.
// Fields are normalised across families (GPT-2's n_embd -> HiddenSize, ...).
type Config struct {
	Arch              Arch
	VocabSize         int
	HiddenSize        int
	IntermediateSize  int // GPT-2: n_inner or 4*n_embd
	NumLayers         int
	NumHeads          int
	NumKVHeads        int // == NumHeads when absent
	HeadDim           int // hidden/heads unless config gives head_dim (Qwen3)
	MaxPositions      int
	RMSNormEps        float64 // Llama family
	LayerNormEps      float64 // GPT-2
	RopeTheta         float64
	RopeScaling       *RopeScaling
	TieWordEmbeddings bool
	AttentionBias     bool // q/k/v biases (Qwen2: always true)
	QKNorm            bool // Qwen3 q_norm/k_norm
	HiddenAct         string
	TorchDType        string // "float32", "bfloat16", "float16"
	BOSTokenID        int
	EOSTokenID        int
	// Raw is the whole config.json, kept to write it back unchanged.
	Raw map[string]any

	// OutputBias: o_proj has a bias (Llama/Qwen3 attention_bias=true; never
	// for Qwen2 or Mistral). GPT-2 always has biases everywhere and ignores
	// this field.
	OutputBias bool
	// SlidingWindow is the attention window (0 = none): query q sees keys
	// k with q-k < SlidingWindow, as transformers' sliding_window_overlay.
	// It applies to every layer (Mistral's sliding_window) unless
	// SlidingLayers is set (Qwen2/Qwen3 use_sliding_window: the layers
	// layer_types marks "sliding_attention", by default those with index
	// >= max_window_layers).
	SlidingWindow int
	SlidingLayers []bool
	// MLPBias: Llama's mlp_bias (gate/up/down_proj biases).
	MLPBias bool
	// InitializerRange is the std of HF's normal weight init (default 0.02).
	InitializerRange float64
	// PadTokenID is pad_token_id, -1 when absent or null.
	PadTokenID int
	// EOSTokenIDs lists every eos_token_id (Llama 3.1 gives a list);
	// EOSTokenID is its first element, -1 when absent. BOSTokenID likewise.
	EOSTokenIDs []int
	// ModelType is config.json's "model_type" ("llama", "gpt2", ...).
	ModelType string

	// Block options of the Gemma 2/3 and OLMo 2 decoders (zero values:
	// the Llama block).
	//
	// NormOffset is added to every RMSNorm scale: Gemma's (1 + w) norms
	// have 1 (their weights are stored as w, initialised to zero).
	NormOffset float64
	// EmbedScale multiplies the token embeddings (Gemma: sqrt(hidden_size)
	// rounded to float32, as the embedding's dtype); 0 means none.
	EmbedScale float64
	// SandwichNorms (Gemma 2/3): the attention and MLP outputs pass through
	// post_attention_layernorm / post_feedforward_layernorm before the
	// residual add, and the MLP input through pre_feedforward_layernorm.
	SandwichNorms bool
	// PostNorms (OLMo 2): no input norms; the attention and MLP outputs pass
	// through post_attention_layernorm / post_feedforward_layernorm before
	// the residual add.
	PostNorms bool
	// QKNormFull (OLMo 2): q_norm and k_norm normalise the whole q and k
	// projections (num_heads*head_dim values), not each head (QKNorm).
	QKNormFull bool
	// AttnSoftcap and FinalSoftcap (Gemma 2): scores become
	// cap*tanh(scores/cap) (attn_logit_softcapping, after the 1/sqrt scale
	// and before the mask) and logits likewise (final_logit_softcapping);
	// 0 means off.
	AttnSoftcap  float64
	FinalSoftcap float64
	// QueryPreAttnScalar (Gemma): attention scores are scaled by
	// QueryPreAttnScalar^-0.5 instead of head_dim^-0.5; 0 means head_dim.
	QueryPreAttnScalar float64
	// LocalRopeTheta and LocalRopeScaling (Gemma 3): the rotary base and
	// scaling of the sliding-window layers (rope_local_base_freq, or
	// rope_parameters["sliding_attention"]); RopeTheta/RopeScaling are then
	// those of the full-attention layers. LocalRopeTheta 0: every layer
	// uses RopeTheta/RopeScaling.
	LocalRopeTheta   float64
	LocalRopeScaling *RopeScaling
	// RotaryDim (Phi-3's partial_rotary_factor): RoPE rotates the first
	// RotaryDim dimensions of each head and passes the rest through; 0
	// means head_dim.
	RotaryDim int
	// FusedQKV and FusedGateUp (Phi-3): the checkpoint holds
	// self_attn.qkv_proj ([q; k; v] rows) and mlp.gate_up_proj ([gate; up]
	// rows) instead of separate projections.
	FusedQKV, FusedGateUp bool
	// MoE (Qwen3-MoE): routed mixture-of-experts layers; zero: none.
	MoE MoE
}

// LayerRope returns the rotary base and scaling of layer l.
func (c *Config) LayerRope(l int) (float64, *RopeScaling) {
	if c.LocalRopeTheta > 0 && c.LayerWindow(l) > 0 {
		return c.LocalRopeTheta, c.LocalRopeScaling
	}
	return c.RopeTheta, c.RopeScaling
}

// LayerWindow returns layer l's sliding window (0: full causal attention).
func (c *Config) LayerWindow(l int) int {
	if c.SlidingWindow <= 0 {
		return 0
	}
	if c.SlidingLayers == nil || (l < len(c.SlidingLayers) && c.SlidingLayers[l]) {
		return c.SlidingWindow
	}
	return 0
}
