// Package model knows the Hugging Face causal-LM checkpoints dpo works
// with: it parses config.json (LoadConfig) into a normalised Config for
// Llama, Mistral, Qwen2, Qwen3 and GPT-2, lists each architecture's exact
// tensor names and shapes (ParamSpecs), loads and validates checkpoints
// (Load), creates HF-style random initialisations (RandomInit) and writes
// checkpoints transformers can load (Save).
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
package model
