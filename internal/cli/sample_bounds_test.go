package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
)

// dpo-sample bounds --max-new-tokens by the model's positions and the
// generation's memory (prefill included) before any compute: exit 1
// naming the flag, the field or the prompt, not a 206 GB allocation.
func TestSampleBounds(t *testing.T) {
	dir := randomModel(t, 2)
	long := `{"prompt": "` + strings.Repeat("x", 40) + `"}` + "\n"
	for _, c := range []struct {
		name string
		in   string
		args []string
		want []string
	}{
		{"max-new-tokens 2^31-1", heldoutPrompts(t, 2), []string{"--max-new-tokens", "2147483647"}, []string{"--max-new-tokens 2147483647", "max_position_embeddings 64"}},
		{"memory", heldoutPrompts(t, 1) + long, []string{"--max-new-tokens", "8", "--max-batch-memory", "64KiB"}, []string{"prompt 1", "the longest", "--max-new-tokens", "--max-batch-memory", "prefill"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var errb bytes.Buffer
			err := Sample(context.Background(), append([]string{"--model", dir, "-q", "--format", "jsonl"}, c.args...), strings.NewReader(c.in), &bytes.Buffer{}, &errb)
			if err == nil || ExitCode(err) != 1 {
				t.Fatalf("err %v (exit %d), want exit 1", err, ExitCode(err))
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// The generation estimate counts the prompt prefill: a longer prompt
// needs more than its share of the KV cache.
func TestGenerateEstimatePrefill(t *testing.T) {
	cfg, err := model.LoadConfig("../../examples/sort/model/config.json")
	if err != nil {
		t.Fatal(err)
	}
	b := &memBudget{cfg: cfg, batchTokens: 4096}
	short, _, _ := b.generateEstimate(16, 16, 1)
	long, C, R := b.generateEstimate(1024, 16, 1)
	perTok := 4 * float64(6*cfg.HiddenSize+3*cfg.MLPWidth())
	cache := 8 * float64(cfg.NumLayers*R*C*cfg.NumKVHeads*cfg.HeadDim)
	if long < cache+1024*perTok || long <= short {
		t.Errorf("estimate %g for a 1024-token prompt (short %g): less than the cache %g plus the prefill's activations %g", long, short, cache, 1024*perTok)
	}
}
