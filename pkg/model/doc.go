// Package model knows the Hugging Face causal-LM checkpoints dpo works
// with: it parses config.json (LoadConfig) into a normalised Config for
// Llama, Mistral, Qwen2, Qwen3, GPT-2, Gemma 2, Gemma 3 (text-only), OLMo 2,
// Phi-3 and Qwen3-MoE (SupportedArchs), lists each architecture's exact
// tensor names and shapes (ParamSpecs), loads and validates checkpoints
// (Load), creates HF-style random initialisations (RandomInit), writes
// checkpoints transformers can load (Save), and reads the end-of-sequence
// ids generation stops at (GenerationEOS: config.json's and
// generation_config.json's).
//
// Settings that change the math and that the engine does not implement
// (longrope and partial rotary embeddings, activations other than
// SiLU/gelu_new, GPT-2 attention variants, ...) are rejected with an error
// naming the config field instead of being guessed.
//
// Implemented variants, each checked against transformers 5.24 (see
// docs/oracles.md): tied/untied heads, GQA, attention biases (Llama/Qwen3
// attention_bias, Qwen2's q/k/v biases), Llama's mlp_bias, Qwen3's qk-norm,
// rope_scaling linear, dynamic, yarn and llama3 (from rope_scaling or
// transformers v5's rope_parameters), and sliding windows: Mistral's
// sliding_window on every layer, Qwen2/Qwen3's use_sliding_window on the
// layers layer_types (or max_window_layers) selects (Config.LayerWindow).
// Dynamic rope is exact only up to max_position_embeddings tokens, beyond
// which transformers' result depends on the batch; Config.CheckSeqLen
// refuses longer sequences and says why.
//
// The newer families are options of one decoder block in the engine, and
// their Config fields say which: Gemma's (1 + w) norms (NormOffset), its
// embedding scale, attention and final-logit soft-capping (AttnSoftcap,
// FinalSoftcap), query_pre_attn_scalar and sandwich norms; Gemma 3's
// per-layer rope for sliding layers (LayerRope); OLMo 2's post-norms and
// qk-norm; Phi-3's fused qkv and gate_up projections; Qwen3-MoE's routed
// experts (Config.MoE, HasMoE). pkg/engine's doc describes how the forward
// uses them (layouts, LoRA, KV cache, MoE).
package model
