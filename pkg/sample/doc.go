// Package sample generates completions of prompts with a model, as
// dpo-sample does.
//
// Its core chooses next tokens from a model's logits: greedy, or sampling
// with transformers' warpers (temperature, top-k, top-p, min-p; [Config],
// [Sampler]), with a random stream per completion ([RNG], keyed by the
// seed, the prompt's id and the sample index) so that a completion does not
// depend on which other prompts were decoded with it, nor on how the
// prompts were batched or sharded.
//
// [Complete] runs an engine.Model over every (prompt, sample index) of a
// [Request]: each completion ends at one of the end-of-sequence ids
// (finish reason "eos", the token kept), when its decoded text contains a
// stop string ("stop", the string kept), or after MaxNewTokens tokens
// ("length"). A completion's log-probability is the sum of its tokens'
// log-probabilities under the unwarped distribution (temperature 1, no
// filtering), as the logp that dpo-reflogp recomputes; a non-finite one
// (NaN weights, an overflow) stops generation with an error naming the
// prompt, the sample and the token.
package sample
