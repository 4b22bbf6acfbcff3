package engine

import (
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
)

// The estimates describe the batches the planners make: a row of n tokens
// lands in planBatches' batch of length T and size B, a generation call in
// planGenerate's batches of R rows. A planner change that the estimate
// does not follow fails here.
func TestMemoryEstimatesFollowPlanners(t *testing.T) {
	cfg := &model.Config{HiddenSize: 64, IntermediateSize: 128, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 16, VocabSize: 1000}
	for _, bt := range []int{256, 4096} {
		for _, n := range []int{1, 17, 100, 1000, 5000} {
			_, T, B := ForwardMemory(cfg, bt, 0, n)
			b := planBatches([]int{n}, bt)
			if len(b) != 1 || b[0].length != T || b[0].size != B {
				t.Errorf("batch-tokens %d, row of %d: estimate for T %d B %d, planBatches made %+v", bt, n, T, B, b)
			}
		}
		for _, tc := range []struct{ prompts, maxPrompt, maxNew int }{{1, 10, 5}, {3, 40, 20}, {100, 30, 100}, {9, 500, 600}} {
			_, C, R := GenerateMemory(cfg, bt, 0, tc.maxPrompt, tc.maxNew, tc.prompts)
			lens := make([]int, tc.prompts)
			for i := range lens {
				lens[i] = tc.maxPrompt
			}
			if C != GenerateCapacity(tc.maxPrompt, tc.maxNew) {
				t.Errorf("capacity %d, Generate uses %d", C, GenerateCapacity(tc.maxPrompt, tc.maxNew))
			}
			for _, b := range planGenerate(lens, C, bt, 1) {
				if b.size != R {
					t.Errorf("batch-tokens %d, %+v: estimate for %d rows, planGenerate made a batch of %d", bt, tc, R, b.size)
				}
			}
		}
	}
	// The head's chunk: the engine default unless set, never above the vocabulary.
	a, _, _ := ForwardMemory(cfg, 4096, 0, 100)
	b, _, _ := ForwardMemory(cfg, 4096, DefaultVocabChunk, 100)
	c, _, _ := ForwardMemory(cfg, 4096, 10, 100)
	if a != b || c >= a {
		t.Errorf("vocab chunk: default %g, explicit default %g, 10 columns %g", a, b, c)
	}
}
