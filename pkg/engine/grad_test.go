package engine

import (
	"context"
	"math"
	"testing"

	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// TestCompletionLogProbsGraphGradient checks that the graph the trainer
// differentiates gives the same value as SequenceLogProbs and gradients
// that agree with central finite differences of SequenceLogProbs.
func TestCompletionLogProbsGraphGradient(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			ts := randomTensors(t, cfg, 5, safetensors.F32)
			e := newTestEngine(t, Options{VocabChunk: 16})
			m, err := e.LoadWeights(cfg, ts)
			if err != nil {
				t.Fatal(err)
			}
			seqs := []Sequence{{Tokens: []int32{1, 7, 3, 9, 2, 5}, PromptLen: 2}, {Tokens: []int32{4, 4, 8}, PromptLen: 1}}
			specs := m.specs
			probe := []string{specs[len(specs)-1].Name, specs[3].Name} // a head/final-norm weight and an early one
			var grads [][]float32
			var total float32
			err = catch(func() error {
				exec, err := gmodel.NewExec(e.backend, m.Store(), func(scope *gmodel.Scope, tokens, lengths, prompts *graph.Node) []*graph.Node {
					lp := graph.ReduceAllSum(CompletionLogProbsGraph(scope.Store(), m.Config(), tokens, lengths, prompts, 16))
					var wrt []*graph.Node
					for _, p := range probe {
						wrt = append(wrt, scope.Store().GetVariable("/"+p).NodeValue(tokens.Graph()))
					}
					return append([]*graph.Node{lp}, graph.Gradient(lp, wrt...)...)
				})
				if err != nil {
					return err
				}
				toks := []int32{1, 7, 3, 9, 2, 5, 4, 4, 8, 0, 0, 0}
				out, err := exec.Call(tensors.FromFlatDataAndDimensions(toks, 2, 6),
					tensors.FromFlatDataAndDimensions([]int32{6, 3}, 2),
					tensors.FromFlatDataAndDimensions([]int32{2, 1}, 2))
				if err != nil {
					return err
				}
				total = tensors.MustCopyFlatData[float32](out[0])[0]
				for _, o := range out[1:] {
					grads = append(grads, tensors.MustCopyFlatData[float32](o))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := m.SequenceLogProbs(context.Background(), seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := relDiff(float64(total), ref[0]+ref[1]); d > 1e-5 {
				t.Errorf("graph value %g, SequenceLogProbs %g", total, ref[0]+ref[1])
			}
			ws, err := m.ExportWeights()
			if err != nil {
				t.Fatal(err)
			}
			for pi, p := range probe {
				for _, idx := range []int{0, len(ws[p]) / 2} {
					const h = 1e-2
					f := func(delta float32) float64 {
						vals := append([]float32(nil), ws[p]...)
						vals[idx] += delta
						spec := specs[0]
						for _, s := range specs {
							if s.Name == p {
								spec = s
							}
						}
						if err := m.setVariable(p, spec.Shape, vals); err != nil {
							t.Fatal(err)
						}
						lp, err := m.SequenceLogProbs(context.Background(), seqs, nil)
						if err != nil {
							t.Fatal(err)
						}
						return lp[0] + lp[1]
					}
					fd := (f(h) - f(-h)) / (2 * h)
					f(0)
					g := float64(grads[pi][idx])
					if math.Abs(fd-g) > 2e-2*math.Max(1, math.Abs(fd)) {
						t.Errorf("d/d %s[%d]: graph %g, finite difference %g", p, idx, g, fd)
					}
				}
			}
		})
	}
}
