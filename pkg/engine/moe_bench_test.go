package engine

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
)

// BenchmarkMoEForward measures what the dense computation of the routed
// experts costs: SequenceLogProbs throughput of a Qwen3-MoE (8 experts of
// width 128, top 2) against dense Qwen3-MoE configs (num_experts 0) whose
// MLP is as wide as the experts a token uses (256: the FLOPs transformers'
// dispatch spends) and as all experts together (1024: the FLOPs computed
// here). Hidden 128, 4 layers, vocabulary 4096, 2048 tokens per call.
func BenchmarkMoEForward(b *testing.B) {
	const base = `{"architectures":["Qwen3MoeForCausalLM"],"vocab_size":4096,"hidden_size":128,"num_attention_heads":4,
		"num_key_value_heads":2,"head_dim":32,"num_hidden_layers":4,"moe_intermediate_size":128,"num_experts_per_tok":2,`
	for _, c := range []struct{ name, json string }{
		{"moe_e8_top2", base + `"num_experts":8,"intermediate_size":256}`},
		{"dense_256", base + `"num_experts":0,"intermediate_size":256}`},
		{"dense_1024", base + `"num_experts":0,"intermediate_size":1024}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg, err := model.ParseConfig([]byte(c.json))
			if err != nil {
				b.Fatal(err)
			}
			m, err := newTestEngine(b, Options{BatchTokens: 2048}).LoadModel(model.RandomInit(cfg, 1))
			if err != nil {
				b.Fatal(err)
			}
			seqs := randomSeqs(rand.New(rand.NewPCG(1, 1)), 16, cfg.VocabSize, 128, 128)
			ctx := context.Background()
			if _, err := m.SequenceLogProbs(ctx, seqs, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.SequenceLogProbs(ctx, seqs, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(seqs)*128*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
