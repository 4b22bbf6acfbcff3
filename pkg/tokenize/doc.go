// Package tokenize turns preference pairs into token ids the way TRL's
// DPOTrainer does, and writes them as a dpo stream.
//
// For each pair (see package pairs for the input formats):
//
//   - Conversational pairs are rendered with the tokenizer's chat template:
//     the prompt alone with add_generation_prompt=true, and prompt+chosen and
//     prompt+rejected without it. The rendered text already holds BOS where
//     the template puts it, so it is encoded without adding special tokens.
//   - Standard (text) pairs get the EOS token appended to each completion
//     unless it already ends with it, and are encoded with the tokenizer's
//     special tokens (BOS from its post-processor), never doubling a BOS the
//     text already starts with.
//   - prompt and prompt+completion are encoded jointly and split at the length
//     of the encoded prompt, so merges across the boundary are the ones a model
//     sees at inference; when the prompt's ids are not a prefix of the joint
//     ids, a warning is counted (and logged for the first few rows).
//
// Truncation follows DPOConfig: the prompt keeps its last MaxPromptLength
// tokens, completions their first MaxCompletionLength tokens, then the whole
// sequence is cut to MaxLength: keep_start cuts the completions' ends,
// keep_end cuts the prompt's start. A pair that cannot fit (keep_start: the
// prompt alone fills MaxLength; keep_end: a completion alone fills it) is
// dropped and counted, or fails the run in strict mode.
package tokenize
