package engine_test

import (
	"context"
	"fmt"
	"log"
	"math"

	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// A GPT-2 with all weights zero predicts the uniform distribution, so a
// completion of two tokens has log-probability 2·log(1/vocab).
func Example() {
	cfg := &model.Config{
		Arch: model.ArchGPT2, VocabSize: 8, HiddenSize: 4, IntermediateSize: 16, NumLayers: 1,
		NumHeads: 1, NumKVHeads: 1, HeadDim: 4, MaxPositions: 16, LayerNormEps: 1e-5,
		HiddenAct: "gelu_new", TieWordEmbeddings: true,
	}
	weights := map[string]*safetensors.Tensor{}
	for _, s := range model.ParamSpecs(cfg) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		t, err := safetensors.FromFloat32(s.Name, safetensors.F32, s.Shape, make([]float32, n))
		if err != nil {
			log.Fatal(err)
		}
		weights[s.Name] = t
	}

	eng, err := engine.New(engine.Options{Backend: "go:ops_sequential"})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	m, err := eng.LoadWeights(cfg, weights)
	if err != nil {
		log.Fatal(err)
	}
	lp, err := m.SequenceLogProbs(context.Background(), []engine.Sequence{
		{Tokens: []int32{1, 2, 3, 4}, PromptLen: 2}, // scores tokens 3 and 4
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.4f %.4f\n", lp[0], 2*math.Log(1.0/8))
	// Output: -4.1589 -4.1589
}
