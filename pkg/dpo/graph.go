package dpo

import (
	"errors"
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
)

// Inputs are the per-batch graph nodes of [Objective.Loss]. The log-prob
// nodes are float vectors of shape [B], all of the same dtype (float32 or
// float64; the loss is computed in that dtype). Lengths may be any numeric
// dtype and are converted. RefChosen/RefRejected may be nil when
// [Objective.NeedsReference] is false; lengths may be nil when
// [Objective.NeedsLengths] is false. A graph cannot report bad values:
// the caller must check that log-probs are finite and lengths positive
// (as [Objective.LossFloat64] does), or the loss becomes NaN or ±Inf.
type Inputs struct {
	PolicyChosen, PolicyRejected *graph.Node
	RefChosen, RefRejected       *graph.Node
	ChosenLengths                *graph.Node
	RejectedLengths              *graph.Node
	// Weights, when not nil, are per-pair weights [B] (gradient stopped by
	// the caller) that multiply every term's per-pair loss before the batch
	// mean: TRL's use_weighting (WPO), where they are the product of the
	// chosen and rejected completions' exp(mean per-token log-prob
	// relative to log Σ_v p_v²).
	Weights *graph.Node
	// RawPolicyChosen, when not nil, is the plain summed chosen log-prob
	// the sft term reads when PolicyChosen is weighted otherwise (TRL's
	// ld_alpha weighs the tokens past the shorter completion; sft does not).
	RawPolicyChosen *graph.Node
	// BCOMean and BCOCount are scalars holding the trainer's
	// [RunningMoments] Mean and Count before this batch. Required with a
	// bco_pair term, ignored otherwise.
	BCOMean, BCOCount *graph.Node
}

// Outputs are the graph nodes [Objective.Loss] builds.
type Outputs struct {
	// Loss is the scalar objective; differentiate it with graph.Gradient.
	Loss *graph.Node
	// ChosenRewards and RejectedRewards are the per-pair implicit rewards
	// [B] (gradient stopped).
	ChosenRewards, RejectedRewards *graph.Node
	// Metrics holds one scalar per [MetricNames] entry (gradient stopped).
	Metrics []*graph.Node
	// BCOBatchMean is the scalar the trainer must feed to
	// [RunningMoments.Update] after running the step (bco_pair only).
	BCOBatchMean *graph.Node
}

// Loss builds the objective over one batch. GoMLX reports graph errors by
// panicking; Loss recovers them (and its own input checks) into the
// returned error.
func (o Objective) Loss(in Inputs) (out Outputs, err error) {
	if err := o.Validate(); err != nil {
		return out, err
	}
	defer func() {
		if r := recover(); r != nil {
			switch v := r.(type) {
			case error:
				err = fmt.Errorf("dpo: building loss graph: %w", v)
			default:
				err = fmt.Errorf("dpo: building loss graph: %v", v)
			}
		}
	}()
	if err := o.checkNodes(in); err != nil {
		return out, err
	}
	return o.buildLoss(in), nil
}

func (o Objective) checkNodes(in Inputs) error {
	if in.PolicyChosen == nil || in.PolicyRejected == nil {
		return errors.New("dpo: policy_chosen_logps and policy_rejected_logps are required")
	}
	s := in.PolicyChosen.Shape()
	if s.Rank() != 1 || !s.DType.IsFloat() {
		return fmt.Errorf("dpo: policy_chosen_logps must be a float vector [B], got %s", s)
	}
	check := func(name string, n *graph.Node, need, sameDType bool) error {
		if n == nil {
			if need {
				return fmt.Errorf("dpo: %s is required by the loss %q", name, o.String())
			}
			return nil
		}
		ns := n.Shape()
		if ns.Rank() != 1 || ns.Dimensions[0] != s.Dimensions[0] {
			return fmt.Errorf("dpo: %s must have shape [%d], got %s", name, s.Dimensions[0], ns)
		}
		if sameDType && ns.DType != s.DType {
			return fmt.Errorf("dpo: %s has dtype %s, want %s like policy_chosen_logps", name, ns.DType, s.DType)
		}
		return nil
	}
	for _, c := range []struct {
		name       string
		n          *graph.Node
		need, same bool
	}{
		{"policy_rejected_logps", in.PolicyRejected, true, true},
		{"ref_chosen_logps", in.RefChosen, o.NeedsReference(), true},
		{"ref_rejected_logps", in.RefRejected, o.NeedsReference(), true},
		{"chosen_lengths", in.ChosenLengths, o.NeedsLengths(), false},
		{"rejected_lengths", in.RejectedLengths, o.NeedsLengths(), false},
		{"weights", in.Weights, false, true},
		{"raw_policy_chosen_logps", in.RawPolicyChosen, false, true},
	} {
		if err := check(c.name, c.n, c.need, c.same); err != nil {
			return err
		}
	}
	if o.Has(BCOPair) {
		if in.BCOMean == nil || in.BCOCount == nil {
			return errors.New("dpo: the bco_pair loss needs BCOMean and BCOCount (the running moments state)")
		}
		if !in.BCOMean.Shape().IsScalar() || !in.BCOCount.Shape().IsScalar() {
			return fmt.Errorf("dpo: BCOMean and BCOCount must be scalars, got %s and %s", in.BCOMean.Shape(), in.BCOCount.Shape())
		}
	}
	return nil
}

// logSigmoidNode is log σ(x) = min(x,0) - log1p(exp(-|x|)), written with
// graph.Where so that the gradient at x = 0 is exactly 1/2 and nothing overflows.
func logSigmoidNode(x *graph.Node) *graph.Node {
	zero := graph.ZerosLike(x)
	nonNeg := graph.GreaterOrEqual(x, zero)
	negAbs := graph.Where(nonNeg, graph.Neg(x), x) // -|x|, derivative -1 at 0
	minX0 := graph.Where(nonNeg, zero, x)
	return graph.Sub(minX0, graph.Log1p(graph.Exp(negAbs)))
}

// sigmoidNode is σ(x) computed from e = exp(-|x|) <= 1 so that it neither
// overflows nor loses the tails: 1/(1+e) for x >= 0 and e/(1+e) otherwise.
func sigmoidNode(x *graph.Node) *graph.Node {
	zero := graph.ZerosLike(x)
	nonNeg := graph.GreaterOrEqual(x, zero)
	e := graph.Exp(graph.Where(nonNeg, graph.Neg(x), x))
	onePlus := graph.OnePlus(e)
	return graph.Where(nonNeg, graph.Inverse(onePlus), graph.Div(e, onePlus))
}

// smoothedNode is -(1-ε)·log σ(x) - ε·log σ(-x).
func smoothedNode(x *graph.Node, eps float64) *graph.Node {
	l := graph.MulScalar(logSigmoidNode(x), -(1 - eps))
	if eps == 0 {
		return l
	}
	return graph.Sub(l, graph.MulScalar(logSigmoidNode(graph.Neg(x)), eps))
}

// sortNode sorts a vector ascending. The permutation is computed from
// pairwise comparisons (ties broken by index, a stable sort) and applied as
// a one-hot matrix product, so the gradient flows back to the original
// positions exactly as through torch.sort.
func sortNode(x *graph.Node) *graph.Node {
	g := x.Graph()
	n := x.Shape().Dimensions[0]
	dt := x.DType()
	xs := graph.StopGradient(x)
	xi := graph.BroadcastToDims(graph.InsertAxes(xs, 1), n, n) // [i, j] = x_i
	xj := graph.BroadcastToDims(graph.InsertAxes(xs, 0), n, n) // [i, j] = x_j
	ii := graph.Iota(g, shapeOf(dt, n, n), 0)
	jj := graph.Iota(g, shapeOf(dt, n, n), 1)
	before := graph.Or(graph.LessThan(xj, xi), graph.And(graph.Equal(xj, xi), graph.LessThan(jj, ii)))
	rank := graph.ReduceSum(graph.ConvertDType(before, dt), 1) // rank of x_i
	// perm[k, i] = 1 if rank_i == k.
	kk := graph.Iota(g, shapeOf(dt, n, n), 0)
	perm := graph.ConvertDType(graph.Equal(kk, graph.BroadcastToDims(graph.InsertAxes(rank, 0), n, n)), dt)
	return graph.Einsum("ki,i->k", perm, x)
}

func (o Objective) buildLoss(in Inputs) Outputs {
	dt := in.PolicyChosen.DType()
	beta, eps := o.Beta, o.LabelSmoothing
	pc, pr := in.PolicyChosen, in.PolicyRejected
	var rc, rr *graph.Node
	if o.NeedsReference() {
		rc, rr = in.RefChosen, in.RefRejected
	} else {
		rc, rr = graph.ZerosLike(pc), graph.ZerosLike(pr)
	}
	var lc, lr *graph.Node
	if o.NeedsLengths() {
		lc, lr = graph.ConvertDType(in.ChosenLengths, dt), graph.ConvertDType(in.RejectedLengths, dt)
	}
	bpc, bpr, brc, brr := pc, pr, rc, rr
	cl := graph.Sub(bpc, brc)
	rl := graph.Sub(bpr, brr)
	// f-DPO scores (the log-ratios under reverse_kl) and their difference.
	cs, rs := o.fScoreNode(cl), o.fScoreNode(rl)
	z := graph.Sub(cs, rs)

	var out Outputs
	var loss *graph.Node
	for _, t := range o.Terms {
		var per *graph.Node
		switch t.Name {
		case Sigmoid:
			per = smoothedNode(graph.MulScalar(z, beta), eps)
		case Hinge:
			h := graph.OneMinus(graph.MulScalar(z, beta))
			per = graph.Where(graph.GreaterThan(h, graph.ZerosLike(h)), h, graph.ZerosLike(h))
		case IPO:
			// TRL 1.x: the scores are divided by the completion lengths.
			zi := graph.Sub(graph.Div(cs, lc), graph.Div(rs, lr))
			per = graph.Square(graph.AddScalar(zi, -1/(2*beta)))
		case Robust:
			x := graph.MulScalar(z, beta)
			per = graph.MulScalar(graph.Add(graph.MulScalar(logSigmoidNode(x), -(1-eps)), graph.MulScalar(logSigmoidNode(graph.Neg(x)), eps)), 1/(1-2*eps))
		case ExoPair:
			e := o.exoEpsilon()
			x := graph.MulScalar(z, beta)
			a := graph.Mul(sigmoidNode(x), graph.AddScalar(logSigmoidNode(x), -log1p(-e)))
			b := graph.Mul(sigmoidNode(graph.Neg(x)), graph.AddScalar(logSigmoidNode(graph.Neg(x)), -log(e)))
			per = graph.Add(a, b)
		case NCAPair:
			c := graph.MulScalar(cl, beta)
			r := graph.MulScalar(rl, beta)
			per = graph.Sub(graph.Sub(graph.Neg(logSigmoidNode(c)), graph.MulScalar(logSigmoidNode(graph.Neg(c)), 0.5)), graph.MulScalar(logSigmoidNode(graph.Neg(r)), 0.5))
		case BCOPair:
			c := graph.MulScalar(cl, beta)
			r := graph.MulScalar(rl, beta)
			batchMean := graph.StopGradient(graph.ReduceAllMean(graph.Concatenate([]*graph.Node{c, r}, 0)))
			oldMean := graph.ConvertDType(in.BCOMean, dt)
			count := graph.ConvertDType(in.BCOCount, dt)
			// TRL RunningMoments.update with one observation.
			delta := graph.Add(oldMean, graph.Div(graph.Sub(batchMean, oldMean), graph.OnePlus(count)))
			out.BCOBatchMean = batchMean
			per = graph.Sub(graph.Neg(logSigmoidNode(graph.Sub(c, delta))), logSigmoidNode(graph.Neg(graph.Sub(r, delta))))
		case SPPOHard:
			per = graph.Add(graph.Square(graph.AddScalar(cl, -0.5/beta)), graph.Square(graph.AddScalar(rl, 0.5/beta)))
		case AOT:
			d := graph.Sub(sortNode(graph.Sub(bpc, bpr)), sortNode(graph.Sub(brc, brr)))
			per = smoothedNode(graph.MulScalar(d, beta), eps)
		case AOTUnpaired:
			d := graph.Sub(sortNode(cl), sortNode(rl))
			per = smoothedNode(graph.MulScalar(d, beta), eps)
		case APOZero:
			per = graph.Add(graph.OneMinus(sigmoidNode(graph.MulScalar(cl, beta))), sigmoidNode(graph.MulScalar(rl, beta)))
		case APODown:
			per = graph.Add(sigmoidNode(graph.MulScalar(cl, beta)), graph.OneMinus(sigmoidNode(graph.MulScalar(z, beta))))
		case DiscoPOP:
			x := graph.MulScalar(z, beta)
			m := sigmoidNode(graph.MulScalar(x, 1/o.DiscoPOPTau))
			// exp(-x)·m is computed as exp(log σ(x/τ) - x): it tends to 0
			// instead of overflowing to inf·0 for very negative x.
			expPart := graph.Exp(graph.Sub(logSigmoidNode(graph.MulScalar(x, 1/o.DiscoPOPTau)), x))
			per = graph.Add(graph.Mul(graph.Neg(logSigmoidNode(x)), graph.OneMinus(m)), expPart)
		case SigmoidNorm:
			zn := graph.Sub(graph.Div(cs, lc), graph.Div(rs, lr))
			per = smoothedNode(graph.MulScalar(zn, beta), eps)
		case SFT:
			raw := pc
			if in.RawPolicyChosen != nil {
				raw = in.RawPolicyChosen
			}
			per = graph.Neg(graph.Div(graph.ReduceAllSum(raw), graph.ReduceAllSum(lc)))
			if in.Weights != nil {
				per = graph.BroadcastToDims(per, pc.Shape().Dimensions...)
			}
		case SimPO:
			u := graph.AddScalar(graph.MulScalar(graph.Sub(graph.Div(pc, lc), graph.Div(pr, lr)), beta), -o.SimPOGamma)
			per = smoothedNode(u, eps)
		default:
			panic(fmt.Errorf("unknown loss %q", t.Name))
		}
		if in.Weights != nil {
			per = graph.Mul(per, in.Weights)
		}
		term := graph.MulScalar(graph.ReduceAllMean(per), t.Weight)
		if loss == nil {
			loss = term
		} else {
			loss = graph.Add(loss, term)
		}
	}
	out.Loss = loss

	// Metrics, with gradients stopped.
	mpc, mpr, mrc, mrr := graph.StopGradient(pc), graph.StopGradient(pr), graph.StopGradient(rc), graph.StopGradient(rr)
	if o.averagedMetrics() {
		mpc, mpr, mrc, mrr = graph.Div(mpc, lc), graph.Div(mpr, lr), graph.Div(mrc, lc), graph.Div(mrr, lr)
	}
	out.ChosenRewards = graph.MulScalar(graph.Sub(mpc, mrc), beta)
	out.RejectedRewards = graph.MulScalar(graph.Sub(mpr, mrr), beta)
	acc := graph.ConvertDType(graph.GreaterThan(out.ChosenRewards, out.RejectedRewards), dt)
	out.Metrics = []*graph.Node{
		graph.StopGradient(loss),
		graph.ReduceAllMean(out.ChosenRewards),
		graph.ReduceAllMean(out.RejectedRewards),
		graph.ReduceAllMean(acc),
		graph.ReduceAllMean(graph.Sub(out.ChosenRewards, out.RejectedRewards)),
		graph.ReduceAllMean(mpc),
		graph.ReduceAllMean(mpr),
	}
	return out
}
