package train

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"

	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/engine"
)

// ldWeighted returns TRL's LD-DPO log-probs [R]: the sum of the per-token
// log-probs over the first s completion tokens plus α times the sum over the
// rest, where s is the shorter completion length of the row's pair (rows
// are chosen then rejected, B each).
func ldWeighted(st engine.TokenStats, compLen, prompts *graph.Node, alpha float64) *graph.Node {
	R, T := st.LogProbs.Shape().Dimensions[0], st.LogProbs.Shape().Dimensions[1]
	B := R / 2
	c := graph.Slice(compLen, graph.AxisRange(0, B))
	r := graph.Slice(compLen, graph.AxisRange(B, R))
	shared := graph.Min(c, r)
	shared = graph.Concatenate([]*graph.Node{shared, shared}, 0) // [R]
	g := compLen.Graph()
	pos := graph.Iota(g, shapes.Make(dtypes.Int32, R, T), 1)
	k := graph.Sub(pos, graph.BroadcastToDims(graph.ExpandAxes(prompts, 1), R, T)) // index in the completion
	inShared := graph.LessThan(k, graph.BroadcastToDims(graph.ExpandAxes(shared, 1), R, T))
	w := graph.Where(inShared, graph.OnesLike(st.LogProbs), graph.MulScalar(graph.OnesLike(st.LogProbs), alpha))
	return graph.ReduceSum(graph.Mul(st.LogProbs, w), 1)
}

// wpoWeights returns TRL's use_weighting pair weights [B] (gradient
// stopped): exp of the mean over each completion of log p_t - log Σ_v p_v²,
// the chosen row's times the rejected row's.
func wpoWeights(st engine.TokenStats, compLen *graph.Node, first, second func(*graph.Node) *graph.Node) *graph.Node {
	aligned := graph.Mul(graph.Sub(graph.StopGradient(st.LogProbs), st.LogSumSqProbs), st.Mask)
	n := graph.ConvertDType(graph.MaxScalar(compLen, 1), dtypes.Float32)
	w := graph.Exp(graph.Div(graph.ReduceSum(aligned, 1), n))
	return graph.StopGradient(graph.Mul(first(w), second(w)))
}

// appendInputs appends b's pairs to a.
func appendInputs(a, b dpo.InputsF64) dpo.InputsF64 {
	a.PolicyChosen = append(a.PolicyChosen, b.PolicyChosen...)
	a.PolicyRejected = append(a.PolicyRejected, b.PolicyRejected...)
	if b.RefChosen != nil {
		a.RefChosen = append(a.RefChosen, b.RefChosen...)
		a.RefRejected = append(a.RefRejected, b.RefRejected...)
	}
	a.ChosenLengths = append(a.ChosenLengths, b.ChosenLengths...)
	a.RejectedLengths = append(a.RejectedLengths, b.RejectedLengths...)
	if b.Weights != nil {
		a.Weights = append(a.Weights, b.Weights...)
	}
	if b.RawPolicyChosen != nil {
		a.RawPolicyChosen = append(a.RawPolicyChosen, b.RawPolicyChosen...)
	}
	return a
}

// tokenMetrics returns TRL's token-level metrics of one micro-batch:
// logits/chosen and logits/rejected (the mean over the completion tokens of
// the logits' mean over the vocabulary), mean_token_accuracy (the fraction
// of chosen completion tokens that are the model's top-1) and entropy (the
// mean over all completion tokens). Without rejected rows (an sft-only
// objective) the rejected and entropy figures cover the chosen rows only.
func tokenMetrics(mo microOut, d *dataset, rows []int, chosenOnly bool) map[string]float64 {
	B := len(rows)
	var nc, nr float64
	for _, i := range rows {
		p := d.pair(i)
		nc += float64(len(p.chosen))
		nr += float64(len(p.rejected))
	}
	sum := func(x []float64) float64 {
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s
	}
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	ml, top, ent := mo.stats[0], mo.stats[1], mo.stats[2]
	out := map[string]float64{
		"logits/chosen":       div(sum(ml[:B]), nc),
		"mean_token_accuracy": div(sum(top[:B]), nc),
	}
	if chosenOnly {
		out["entropy"] = div(sum(ent), nc)
		return out
	}
	out["logits/rejected"] = div(sum(ml[B:]), nr)
	out["entropy"] = div(sum(ent), nc+nr)
	return out
}
