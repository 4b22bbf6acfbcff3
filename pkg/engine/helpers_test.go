package engine

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// randomTensors returns weights for cfg drawn from N(0, std) (norm scales
// around 1), encoded as dtype.
func randomTensors(t testing.TB, cfg *model.Config, seed uint64, dtype safetensors.DType) map[string]*safetensors.Tensor {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	out := map[string]*safetensors.Tensor{}
	for _, s := range model.ParamSpecs(cfg) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		vals := make([]float32, n)
		for i := range vals {
			switch s.Init {
			case model.InitOnes:
				vals[i] = float32(1 + 0.1*rng.NormFloat64())
			case model.InitZeros:
				vals[i] = float32(0.05 * rng.NormFloat64())
			default:
				vals[i] = float32(0.15 * rng.NormFloat64())
			}
		}
		ts, err := safetensors.FromFloat32(s.Name, dtype, s.Shape, vals)
		if err != nil {
			t.Fatal(err)
		}
		out[s.Name] = ts
	}
	return out
}

func tinyLlama() *model.Config {
	return &model.Config{
		Arch: model.ArchLlama, VocabSize: 50, HiddenSize: 16, IntermediateSize: 24, NumLayers: 2,
		NumHeads: 4, NumKVHeads: 2, HeadDim: 4, MaxPositions: 128, RMSNormEps: 1e-6, RopeTheta: 10000,
		HiddenAct: "silu",
	}
}

func tinyGPT2() *model.Config {
	return &model.Config{
		Arch: model.ArchGPT2, VocabSize: 40, HiddenSize: 16, IntermediateSize: 64, NumLayers: 2,
		NumHeads: 2, NumKVHeads: 2, HeadDim: 8, MaxPositions: 64, LayerNormEps: 1e-5,
		HiddenAct: "gelu_new", TieWordEmbeddings: true,
	}
}

func newTestEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func randomSeqs(rng *rand.Rand, n, vocab, minLen, maxLen int) []Sequence {
	seqs := make([]Sequence, n)
	for i := range seqs {
		l := minLen + rng.IntN(maxLen-minLen+1)
		toks := make([]int32, l)
		for j := range toks {
			toks[j] = int32(rng.IntN(vocab))
		}
		seqs[i] = Sequence{Tokens: toks, PromptLen: 1 + rng.IntN(l)}
	}
	return seqs
}

// isXLA reports whether the tests run on an XLA backend (GOMLX_BACKEND=
// xla:cpu in a -tags xla build, as make test's second pass does), where some
// comparisons take the per-backend tolerances of docs/oracles.md.
func isXLA(t testing.TB) bool {
	t.Helper()
	kind, err := ResolveBackendKind("")
	if err != nil {
		t.Fatal(err)
	}
	return strings.HasPrefix(kind, "xla")
}
