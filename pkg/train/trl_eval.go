package train

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/engine"
)

// evalGraph is the forward of gradGraph without the loss and gradient:
// inputs plainRows of 2B rows; outputs the policy log-probs the objective
// reads [2B] (ld_alpha-weighted), the plain sums [2B] and the WPO pair
// weights [B].
func (o *optimizer) evalGraph(scope *gmodel.Scope, nodes []*graph.Node) []*graph.Node {
	var in plainRows[*graph.Node]
	take(in.fields(), nodes)
	tokens, lengths, prompts := in.Tokens, in.Lengths, in.Prompts
	st := engine.LayoutTokenStatsGraph(scope.Store(), o.cfg, engine.PlainLayoutInputs(tokens, lengths, prompts), engine.GraphOptions{
		VocabChunk: o.tc.VocabChunk, BF16: o.tc.BF16, LoRA: o.lora})
	R := st.LogProbs.Shape().Dimensions[0]
	B := R / 2
	first := func(x *graph.Node) *graph.Node { return graph.Slice(x, graph.AxisRange(0, B)) }
	second := func(x *graph.Node) *graph.Node { return graph.Slice(x, graph.AxisRange(B, R)) }
	compLen := graph.Sub(lengths, prompts)
	raw := graph.ReduceSum(st.LogProbs, 1)
	lp := raw
	if a := o.tc.ldAlpha(); a >= 0 {
		lp = ldWeighted(st, compLen, prompts, a)
	}
	weights := graph.OnesLike(first(raw))
	if o.tc.UseWeighting {
		weights = wpoWeights(st, compLen, first, second)
	}
	return []*graph.Node{lp, raw, weights}
}

// evaluateTRL scores the eval stream through evalGraph, in micro-batches
// of BatchSize pairs: the path of ld_alpha and use_weighting, whose
// log-probs and weights need per-token quantities. The objective is then
// computed over all pairs at once, as the plain evaluation does.
func (r *runner) evaluateTRL() (map[string]float64, error) {
	d := r.eval
	var in dpo.InputsF64
	for start := 0; start < d.len(); start += r.c.BatchSize {
		end := min(start+r.c.BatchSize, d.len())
		B := end - start
		T := 0
		for i := start; i < end; i++ {
			T = max(T, seqLen(d.pair(i)))
		}
		T = engine.BucketLen(T)
		toks := make([]int32, 2*B*T)
		lengths := make([]int32, 2*B)
		prompts := make([]int32, 2*B)
		for j := 0; j < B; j++ {
			p := d.pair(start + j)
			for h, comp := range [][]int32{p.chosen, p.rejected} {
				row := h*B + j
				copy(toks[row*T:], p.prompt)
				copy(toks[row*T+len(p.prompt):], comp)
				lengths[row] = int32(len(p.prompt) + len(comp))
				prompts[row] = int32(len(p.prompt))
			}
			in.ChosenLengths = append(in.ChosenLengths, len(p.chosen))
			in.RejectedLengths = append(in.RejectedLengths, len(p.rejected))
			if r.obj.NeedsReference() {
				in.RefChosen = append(in.RefChosen, p.refChosen)
				in.RefRejected = append(in.RefRejected, p.refRejected)
			}
		}
		var lp, raw, w []float32
		err := catch(func() error {
			rows := plainRows[*tensors.Tensor]{Tokens: tensors.FromFlatDataAndDimensions(toks, 2*B, T),
				Lengths: tensors.FromFlatDataAndDimensions(lengths, 2*B), Prompts: tensors.FromFlatDataAndDimensions(prompts, 2*B)}
			out, err := r.opt.run(r.opt.eval, rows.fields())
			if err != nil {
				return err
			}
			if lp, err = tensors.CopyFlatData[float32](out[0]); err != nil {
				return err
			}
			if raw, err = tensors.CopyFlatData[float32](out[1]); err != nil {
				return err
			}
			w, err = tensors.CopyFlatData[float32](out[2])
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("evaluating %s: %w", d.name, err)
		}
		for j := 0; j < B; j++ {
			in.PolicyChosen = append(in.PolicyChosen, float64(lp[j]))
			in.PolicyRejected = append(in.PolicyRejected, float64(lp[B+j]))
			if r.c.LDAlpha != nil {
				in.RawPolicyChosen = append(in.RawPolicyChosen, float64(raw[j]))
			}
			if r.c.UseWeighting {
				in.Weights = append(in.Weights, float64(w[j]))
			}
		}
	}
	bco := r.bco
	res, err := r.obj.LossFloat64(in, &bco)
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", d.name, err)
	}
	out := map[string]float64{}
	for k, v := range res.Metrics.Map() {
		out["eval_"+k] = v
	}
	return out, nil
}
