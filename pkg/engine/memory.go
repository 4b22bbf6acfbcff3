package engine

import "github.com/dpo-go/dpo/pkg/model"

// Working-memory estimates of the engine's batches, next to the planners
// that shape them, so that a tool can refuse a row or a call before the
// batch is built (a row that does not fit must be an error naming it, not
// the kernel's out-of-memory kill). They count float32 activations and
// err on the high side; weights are not included.

// perTokenBytes is the float32 working memory per token of a forward
// pass: the hidden states, projections, MLP activations (of every expert
// on MoE layers: MLPWidth) and one vocabulary chunk of logits.
func perTokenBytes(cfg *model.Config, vocabChunk int) float64 {
	if vocabChunk <= 0 {
		vocabChunk = DefaultVocabChunk
	}
	chunk := min(vocabChunk, cfg.VocabSize)
	return 4 * float64(6*cfg.HiddenSize+3*cfg.MLPWidth()+2*chunk)
}

// ForwardMemory is the working memory of the forward pass over the plain
// batch a sequence of n tokens lands in: its padded length T and the
// bucket's rows B (BucketRows: batchTokens / T, at least 1), per token
// perTokenBytes, and per row the attention scores and probabilities
// (heads × T × T). The packed layouts put at most batchTokens tokens in a
// batch too, so the plain batch bounds them.
func ForwardMemory(cfg *model.Config, batchTokens, vocabChunk, n int) (bytes float64, T, B int) {
	T = BucketLen(n)
	B = BucketRows(T, batchTokens)
	attn := 12 * float64(cfg.NumHeads) * float64(T) * float64(T)
	return float64(B) * (float64(T)*perTokenBytes(cfg, vocabChunk) + attn), T, B
}

// GenerateMemory is the working memory of Generate over nPrompts prompts
// of at most maxPrompt tokens with maxNew new tokens: the KV cache of a
// batch (2 × layers × rows × capacity × kv heads × head_dim), plus the
// larger of the prompt prefill (every prompt token's activations and its
// attention over the capacity) and one decode step (one token per row and
// the full vocabulary's logits). It returns the capacity C and the rows R
// of a batch as Generate plans them (planGenerate).
func GenerateMemory(cfg *model.Config, batchTokens, vocabChunk, maxPrompt, maxNew, nPrompts int) (bytes float64, C, R int) {
	C = GenerateCapacity(maxPrompt, maxNew)
	R = generateRows(nPrompts, C, batchTokens, 1)
	Tp := BucketLen(maxPrompt)
	perTok := perTokenBytes(cfg, vocabChunk)
	cache := 2 * 4 * float64(cfg.NumLayers) * float64(R) * float64(C) * float64(cfg.NumKVHeads) * float64(cfg.HeadDim)
	prefill := float64(R) * (float64(Tp)*perTok + 12*float64(cfg.NumHeads)*float64(Tp)*float64(C))
	decode := float64(R) * (perTok + 4*float64(cfg.VocabSize) + 12*float64(cfg.NumHeads)*float64(C))
	return cache + max(prefill, decode), C, R
}
