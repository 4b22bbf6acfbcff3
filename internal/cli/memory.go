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

// estimate is engine.ForwardMemory of a row of n tokens.
func (b *memBudget) estimate(n int) (bytes float64, T, B int) {
	return engine.ForwardMemory(b.cfg, b.batchTokens, b.vocabChunk, n)
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

// generateEstimate is engine.GenerateMemory of the call.
func (b *memBudget) generateEstimate(maxPrompt, maxNew, nPrompts int) (bytes float64, C, R int) {
	return engine.GenerateMemory(b.cfg, b.batchTokens, b.vocabChunk, maxPrompt, maxNew, nPrompts)
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
