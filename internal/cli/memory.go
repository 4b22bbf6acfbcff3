package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/train"
)

// memBudget refuses, before a batch is built, a row whose forward pass
// would need more memory than the limit: one very long row (a 52M-token
// pair tokenized with --max-length 0) must fail with a message naming it,
// not kill the process with "fatal error: out of memory".
type memBudget struct {
	cfg         *model.Config
	batchTokens int
	vocabChunk  int
	limit       int64 // bytes; 0: no check
	source      string
}

// defaultVocabChunk is the engine's default head chunk (engine.Options).
const defaultVocabChunk = engine.DefaultVocabChunk

// estimate is the float32 working memory of the engine's forward pass over
// the batch a sequence of n tokens lands in: the padded length T, the
// bucket's rows B (batch-tokens / T, at least 1), per token the hidden
// states, projections, MLP activations (of every expert on MoE layers) and a vocabulary chunk of logits,
// and per row the attention scores and probabilities (heads x T x T).
// It errs on the high side; weights are not included.
func (b *memBudget) estimate(n int) (bytes float64, T, B int) {
	T = engine.BucketLen(n)
	B = engine.BucketRows(T, b.batchTokens)
	chunk := b.vocabChunk
	if chunk <= 0 {
		chunk = defaultVocabChunk
	}
	chunk = min(chunk, b.cfg.VocabSize)
	perTok := 4 * float64(6*b.cfg.HiddenSize+3*b.cfg.MLPWidth()+2*chunk) // MoE: all experts (MLPWidth)
	attn := 12 * float64(b.cfg.NumHeads) * float64(T) * float64(T)
	return float64(B) * (float64(T)*perTok + attn), T, B
}

// check returns an error naming nothing but the numbers; the caller adds
// the row.
func (b *memBudget) check(n int) error {
	if b == nil || b.limit <= 0 {
		return nil
	}
	need, T, B := b.estimate(n)
	if need <= float64(b.limit) {
		return nil
	}
	return fmt.Errorf("its %d tokens (padded to %d, %d row(s) per batch) need about %s for the forward pass, more than the %s allowed (--max-batch-memory, %s); drop or shorten the row (dpo-tokenize --max-length), or lower --batch-tokens",
		n, T, B, formatBytes(need), formatBytes(float64(b.limit)), b.source)
}

func formatBytes(x float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for x >= 1024 && i < len(units)-1 {
		x /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", x, units[i])
}

// parseBytes parses "auto", "0" (no limit), a number of bytes, or one with
// a K/M/G/T(iB) suffix (powers of 1024).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want auto, 0, or a size such as 16GiB", s)
	}
	return int64(v * float64(mult)), nil
}

// availableMemory is the memory this process may still use (the cgroup's
// headroom or MemAvailable, see train.AvailableMemory); 0 when unknown.
func availableMemory() int64 { return train.AvailableMemory() }

// newMemBudget resolves --max-batch-memory ("auto": 80% of the memory
// available now; 0: no check).
func newMemBudget(flag string, cfg *model.Config, batchTokens, vocabChunk int) (*memBudget, error) {
	b := &memBudget{cfg: cfg, batchTokens: batchTokens, vocabChunk: vocabChunk}
	if strings.EqualFold(strings.TrimSpace(flag), "auto") {
		b.limit = availableMemory() / 10 * 8
		b.source = "default: 80% of the available memory"
		return b, nil
	}
	v, err := parseBytes(flag)
	if err != nil {
		return nil, usagef("--max-batch-memory %v", err)
	}
	b.limit, b.source = v, "as given"
	return b, nil
}

// generateEstimate is the float32 working memory of engine.Generate over
// prompts of at most maxPrompt tokens (nPrompts rows in all) with maxNew
// new tokens: the KV cache of a batch (2 x layers x rows x capacity x kv
// heads x head_dim), plus the larger of the prompt prefill (every prompt
// token's activations and its attention over the capacity) and one decode
// step. It returns the capacity C and the rows R of a batch as
// engine.Generate plans them.
func (b *memBudget) generateEstimate(maxPrompt, maxNew, nPrompts int) (bytes float64, C, R int) {
	C = engine.GenerateCapacity(maxPrompt, maxNew)
	R = 1
	for R*2 <= max(1, b.batchTokens/C) && R < nPrompts {
		R *= 2
	}
	Tp := engine.BucketLen(maxPrompt)
	chunk := b.vocabChunk
	if chunk <= 0 {
		chunk = defaultVocabChunk
	}
	chunk = min(chunk, b.cfg.VocabSize)
	perTok := 4 * float64(6*b.cfg.HiddenSize+3*b.cfg.MLPWidth()+2*chunk)
	cache := 2 * 4 * float64(b.cfg.NumLayers) * float64(R) * float64(C) * float64(b.cfg.NumKVHeads) * float64(b.cfg.HeadDim)
	prefill := float64(R) * (float64(Tp)*perTok + 12*float64(b.cfg.NumHeads)*float64(Tp)*float64(C))
	decode := float64(R) * (perTok + 4*float64(b.cfg.VocabSize) + 12*float64(b.cfg.NumHeads)*float64(C))
	return cache + max(prefill, decode), C, R
}

// checkGenerate refuses a generation whose estimate exceeds the limit; the
// caller names the longest prompt.
func (b *memBudget) checkGenerate(maxPrompt, maxNew, nPrompts int) error {
	if b == nil || b.limit <= 0 {
		return nil
	}
	need, C, R := b.generateEstimate(maxPrompt, maxNew, nPrompts)
	if need <= float64(b.limit) {
		return nil
	}
	return fmt.Errorf("its %d tokens + --max-new-tokens %d (a KV cache of %d positions, %d row(s) per batch) need about %s for the prefill and the cache, more than the %s allowed (--max-batch-memory, %s); lower --max-new-tokens or --batch-tokens, or shorten the prompt",
		maxPrompt, maxNew, C, R, formatBytes(need), formatBytes(float64(b.limit)), b.source)
}
