package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// benchLlama is a small Llama: 4 layers, hidden 128, GQA 4/2 heads,
// vocabulary 4096.
func benchLlama() *model.Config {
	return &model.Config{
		Arch: model.ArchLlama, VocabSize: 4096, HiddenSize: 128, IntermediateSize: 344, NumLayers: 4,
		NumHeads: 4, NumKVHeads: 2, HeadDim: 32, MaxPositions: 2048, RMSNormEps: 1e-5, RopeTheta: 10000,
		HiddenAct: "silu",
	}
}

// BenchmarkForward measures SequenceLogProbs throughput (tokens/s) on the
// default backend, after a warm-up call that compiles the graphs.
func BenchmarkForward(b *testing.B) {
	cfg := benchLlama()
	for _, seqLen := range []int{64, 256} {
		b.Run(fmt.Sprintf("len%d", seqLen), func(b *testing.B) {
			m, err := newTestEngine(b, Options{BatchTokens: 2048}).LoadWeights(cfg, randomTensors(b, cfg, 1, safetensors.F32))
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			seqs := randomSeqs(rng, 2048/seqLen, cfg.VocabSize, seqLen, seqLen)
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
			b.ReportMetric(float64(len(seqs)*seqLen*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
