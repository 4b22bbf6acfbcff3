package engine

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// TestLogProbsGraphGradient checks that the graph the trainer
// differentiates gives the same value as SequenceLogProbs and gradients
// that agree with central finite differences of SequenceLogProbs.
func TestLogProbsGraphGradient(t *testing.T) {
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
					lp := graph.ReduceAllSum(LayoutLogProbsGraph(scope.Store(), m.Config(), PlainLayoutInputs(tokens, lengths, prompts), GraphOptions{VocabChunk: 16}))
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

// lossAndGrads evaluates Σ LayoutLogProbsGraph of plain rows for a fixed batch and
// its gradient with respect to every weight, built with opts.
func lossAndGrads(t *testing.T, e *Engine, m *Model, opts GraphOptions) (float32, map[string][]float32, int) {
	t.Helper()
	var total float32
	var nodes int
	grads := map[string][]float32{}
	err := catch(func() error {
		exec, err := gmodel.NewExec(e.backend, m.Store(), func(scope *gmodel.Scope, tokens, lengths, prompts *graph.Node) []*graph.Node {
			lp := graph.ReduceAllSum(LayoutLogProbsGraph(scope.Store(), m.Config(), PlainLayoutInputs(tokens, lengths, prompts), opts))
			var wrt []*graph.Node
			for _, s := range m.specs {
				wrt = append(wrt, scope.Store().GetVariable("/"+s.Name).NodeValue(tokens.Graph()))
			}
			out := append([]*graph.Node{lp}, graph.Gradient(lp, wrt...)...)
			nodes = len(tokens.Graph().Nodes())
			return out
		})
		if err != nil {
			return err
		}
		defer exec.Finalize()
		toks := []int32{1, 7, 3, 9, 2, 5, 4, 4, 8, 0, 0, 0, 6, 2, 3, 3, 1, 0}
		out, err := exec.Call(tensors.FromFlatDataAndDimensions(toks, 3, 6),
			tensors.FromFlatDataAndDimensions([]int32{6, 3, 5}, 3),
			tensors.FromFlatDataAndDimensions([]int32{2, 1, 3}, 3))
		if err != nil {
			return err
		}
		total = tensors.MustCopyFlatData[float32](out[0])[0]
		for i, s := range m.specs {
			grads[s.Name] = tensors.MustCopyFlatData[float32](out[1+i])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, grads, nodes
}

// TestGradientCheckpointingSameValues checks that recomputing the layers
// in the backward pass changes nothing: the value and every gradient are
// bit-identical with and without checkpointing, in float32 and in bf16.
func TestGradientCheckpointingSameValues(t *testing.T) {
	for name, cfg := range testConfigs() {
		for _, bf16 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bf16=%v", name, bf16), func(t *testing.T) {
				e := newTestEngine(t, Options{})
				m, err := e.LoadWeights(cfg, randomTensors(t, cfg, 11, safetensors.F32))
				if err != nil {
					t.Fatal(err)
				}
				v0, g0, n0 := lossAndGrads(t, e, m, GraphOptions{VocabChunk: 16, BF16: bf16})
				v1, g1, n1 := lossAndGrads(t, e, m, GraphOptions{VocabChunk: 16, BF16: bf16, Checkpoint: true})
				// The recomputation is real: the backward pass has its own
				// copy of every layer's forward operations.
				t.Logf("graph nodes: %d without checkpointing, %d with", n0, n1)
				if perLayer := (n1 - n0) / cfg.NumLayers; perLayer < 20 {
					t.Errorf("graph has %d nodes with checkpointing, %d without: no layer is recomputed", n1, n0)
				}
				if v0 != v1 {
					t.Errorf("value %v without checkpointing, %v with", v0, v1)
				}
				for _, s := range m.specs {
					a, b := g0[s.Name], g1[s.Name]
					nonzero := false
					for i := range a {
						if a[i] != b[i] {
							t.Errorf("%s[%d]: gradient %v without checkpointing, %v with", s.Name, i, a[i], b[i])
							break
						}
						nonzero = nonzero || a[i] != 0
					}
					if !nonzero && !strings.Contains(s.Name, "wpe") {
						t.Errorf("%s: gradient is all zero", s.Name)
					}
				}
			})
		}
	}
}
