// Package tokenize turns preference pairs into token ids the way TRL 1.16's
// DPOTrainer prepares its dataset, and writes them as a dpo stream.
//
// For each pair (see package pairs for the input formats):
//
//   - Conversational pairs are rendered with the tokenizer's chat template:
//     the prompt alone with add_generation_prompt=true, and prompt+chosen and
//     prompt+rejected without it. The rendered text already holds BOS where
//     the template puts it, so it is encoded without adding special tokens.
//   - Standard (text) pairs get the EOS token appended to each completion
//     unless it already ends with it, and are encoded with the tokenizer's
//     special tokens (BOS from its post-processor). Where the text already
//     starts with BOS, TRL's ids start with two BOS; here the doubled BOS is
//     removed (a deliberate difference).
//   - prompt, prompt+chosen and prompt+rejected are encoded separately; the
//     prompt keeps the longest prefix its ids share with both joint encodings
//     and the completions are the rest of the joint ids (TRL's
//     common_prefix_length rule). When the prompt's ids are not a prefix of a
//     joint encoding (tokens that merge across the boundary, or a template
//     that renders the prompt alone differently) a warning is counted.
//
// Truncation follows DPOConfig, whose defaults are [DefaultConfig]:
// max_length 1024 over prompt+completion, keep_start. keep_start cuts the
// completions' ends, and a pair whose prompt alone fills MaxLength is dropped,
// as TRL drops it. keep_end (deprecated in TRL 1.16) differs from TRL, which
// cuts each prompt+completion sequence on its own: a dpo stream holds one
// prompt per pair, so the prompt's start is cut for the longer completion
// (that sequence equals TRL's; the shorter one keeps less prompt than in
// TRL), and a pair whose completion alone fills MaxLength is dropped where
// TRL would keep the completion's last MaxLength tokens. MaxPromptLength
// (keeps the prompt's end) and MaxCompletionLength (keeps the start) have no
// DPOConfig counterpart in TRL 1.16 and are off by default; they apply
// before MaxLength. A dropped pair is counted, or fails the run in strict
// mode.
//
// # Prompts
//
// [Encoder.EncodePrompt] encodes the prompt side of an example exactly as a
// pair's prompt is encoded (for generation), and [ReadPrompts] reads the
// prompts dpo-sample completes: datasets through package pairs, or the
// prompt ids of a dpo pairs stream as they are.
package tokenize
