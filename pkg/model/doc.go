// Package model knows the Hugging Face causal-LM checkpoints dpo works
// with: it parses config.json (LoadConfig) into a normalised Config for
// Llama, Mistral, Qwen2, Qwen3 and GPT-2, lists each architecture's exact
// tensor names and shapes (ParamSpecs), loads and validates checkpoints
// (Load), creates HF-style random initialisations (RandomInit) and writes
// checkpoints transformers can load (Save).
//
// Settings that change the math and that the engine does not implement
// (rope scaling other than llama3, MLP biases, activations other than
// SiLU/gelu_new, Qwen sliding windows, GPT-2 attention variants, ...) are
// rejected with an error naming the config field instead of being guessed.
//
// Sliding-window policy: Mistral's sliding_window is kept in
// Config.SlidingWindow; HF's sliding mask equals the causal mask for
// sequences of at most that many tokens, so those are exact, and
// Config.CheckSeqLen rejects longer sequences. Qwen2/Qwen3 configs with
// use_sliding_window=true are rejected outright.
package model
