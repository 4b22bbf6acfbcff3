package model

// Arch is the model family a config.json describes.
type Arch string

const (
	ArchLlama   Arch = "LlamaForCausalLM"
	ArchMistral Arch = "MistralForCausalLM"
	ArchQwen2   Arch = "Qwen2ForCausalLM"
	ArchQwen3   Arch = "Qwen3ForCausalLM"
	ArchGPT2    Arch = "GPT2LMHeadModel"
)

// RopeScaling is Llama 3's "rope_scaling" block (rope_type "llama3").
type RopeScaling struct {
	RopeType                      string  `json:"rope_type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings"`
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
	// SlidingWindow is Mistral's sliding_window (0 = none). HF's sliding
	// mask only differs from the plain causal mask for sequences longer than
	// the window, so sequences up to SlidingWindow tokens are computed
	// exactly; CheckSeqLen rejects longer ones.
	SlidingWindow int
	// InitializerRange is the std of HF's normal weight init (default 0.02).
	InitializerRange float64
	// PadTokenID is pad_token_id, -1 when absent or null.
	PadTokenID int
	// EOSTokenIDs lists every eos_token_id (Llama 3.1 gives a list);
	// EOSTokenID is its first element, -1 when absent. BOSTokenID likewise.
	EOSTokenIDs []int
	// ModelType is config.json's "model_type" ("llama", "gpt2", ...).
	ModelType string
}
