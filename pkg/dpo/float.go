package dpo

import (
	"fmt"
	"math"
	"sort"
)

// MetricNames are TRL's names of the per-batch metrics, in the order of
// [Metrics.Values] and [Outputs.Metrics].
var MetricNames = []string{
	"loss",
	"rewards/chosen",
	"rewards/rejected",
	"rewards/accuracies",
	"rewards/margins",
	"logps/chosen",
	"logps/rejected",
}

// Metrics are the per-batch statistics TRL logs.
type Metrics struct {
	Loss float64
	// RewardsChosen is the mean of β·(log π(y_w) - log π_ref(y_w)).
	RewardsChosen float64
	// RewardsRejected is the mean of β·(log π(y_l) - log π_ref(y_l)).
	RewardsRejected float64
	// RewardsAccuracies is the fraction of pairs whose chosen reward is
	// strictly greater than the rejected reward.
	RewardsAccuracies float64
	// RewardsMargins is the mean of chosen minus rejected rewards.
	RewardsMargins float64
	// LogpsChosen and LogpsRejected are the means of the policy log-probs.
	LogpsChosen, LogpsRejected float64
}

// Values returns the metrics in [MetricNames] order.
func (m Metrics) Values() []float64 {
	return []float64{m.Loss, m.RewardsChosen, m.RewardsRejected, m.RewardsAccuracies,
		m.RewardsMargins, m.LogpsChosen, m.LogpsRejected}
}

// Map returns the metrics keyed by their TRL names.
func (m Metrics) Map() map[string]float64 {
	out := make(map[string]float64, len(MetricNames))
	for i, v := range m.Values() {
		out[MetricNames[i]] = v
	}
	return out
}

// InputsF64 is one batch of pairs for [Objective.LossFloat64]. All slices
// have one entry per pair. RefChosen and RefRejected may be nil when the
// objective does not need a reference; the lengths may be nil when it does
// not need lengths (see [Objective.NeedsLengths]).
type InputsF64 struct {
	PolicyChosen, PolicyRejected []float64 // summed completion log-probs
	RefChosen, RefRejected       []float64 // reference model's, same meaning
	ChosenLengths                []int     // completion token counts
	RejectedLengths              []int
	// Weights, when not nil, multiply each pair's loss in every term (TRL's
	// use_weighting; see [Inputs.Weights]).
	Weights []float64
	// RawPolicyChosen, when not nil, is what the sft term sums in place of
	// PolicyChosen (see [Inputs.RawPolicyChosen]).
	RawPolicyChosen []float64
}

// ResultF64 is what [Objective.LossFloat64] computes.
type ResultF64 struct {
	Loss float64
	// ChosenRewards and RejectedRewards are the per-pair implicit rewards
	// β·(log π - log π_ref) (see the package documentation for which
	// log-probs they use).
	ChosenRewards, RejectedRewards []float64
	Metrics                        Metrics
	// BCOBatchMean is the value that was fed to the running moments
	// (bco_pair only; 0 otherwise).
	BCOBatchMean float64
}

// checkInputs validates a float64 batch and returns its size.
func (o Objective) checkInputs(in InputsF64) (int, error) {
	n := len(in.PolicyChosen)
	if n == 0 {
		return 0, fmt.Errorf("dpo: empty batch")
	}
	type field struct {
		name string
		v    []float64
		need bool
	}
	fields := []field{
		{"policy_chosen_logps", in.PolicyChosen, true},
		{"policy_rejected_logps", in.PolicyRejected, true},
		{"ref_chosen_logps", in.RefChosen, o.NeedsReference()},
		{"ref_rejected_logps", in.RefRejected, o.NeedsReference()},
		{"weights", in.Weights, false},
		{"raw_policy_chosen_logps", in.RawPolicyChosen, false},
	}
	for _, f := range fields {
		if f.v == nil && !f.need {
			continue
		}
		if len(f.v) != n {
			return 0, fmt.Errorf("dpo: field %s has %d rows, want %d", f.name, len(f.v), n)
		}
		for i, x := range f.v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, fmt.Errorf("dpo: row %d: field %s is %v", i, f.name, x)
			}
		}
	}
	if o.NeedsLengths() {
		for _, f := range []struct {
			name string
			v    []int
		}{{"chosen_lengths", in.ChosenLengths}, {"rejected_lengths", in.RejectedLengths}} {
			if len(f.v) != n {
				return 0, fmt.Errorf("dpo: field %s has %d rows, want %d", f.name, len(f.v), n)
			}
			for i, x := range f.v {
				if x <= 0 {
					return 0, fmt.Errorf("dpo: row %d: field %s is %d, the loss %q needs a positive completion length", i, f.name, x, o.String())
				}
			}
		}
	}
	return n, nil
}

func logSigmoid(x float64) float64 {
	// log σ(x) = min(x, 0) - log1p(exp(-|x|)), stable for all x.
	return math.Min(x, 0) - math.Log1p(math.Exp(-math.Abs(x)))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// smoothed is the conservative-DPO loss -(1-ε)·log σ(x) - ε·log σ(-x).
func smoothed(x, eps float64) float64 {
	return -(1-eps)*logSigmoid(x) - eps*logSigmoid(-x)
}

func sortedCopy(x []float64) []float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// LossFloat64 computes the objective and its metrics in plain Go float64,
// with the same definitions as [Objective.Loss]. With a bco_pair term, bco
// must be the trainer's running moments; it is updated with this batch.
func (o Objective) LossFloat64(in InputsF64, bco *RunningMoments) (ResultF64, error) {
	var r ResultF64
	if err := o.Validate(); err != nil {
		return r, err
	}
	n, err := o.checkInputs(in)
	if err != nil {
		return r, err
	}
	if o.Has(BCOPair) && bco == nil {
		return r, fmt.Errorf("dpo: the bco_pair loss needs the running moments state")
	}
	useRef := o.NeedsReference()
	beta, eps := o.Beta, o.LabelSmoothing
	// Raw sums and reference (0 when not used).
	pc, pr := in.PolicyChosen, in.PolicyRejected
	rc, rr := make([]float64, n), make([]float64, n)
	if useRef {
		copy(rc, in.RefChosen)
		copy(rr, in.RefRejected)
	}
	lc, lr := make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		if in.ChosenLengths != nil {
			lc[i] = float64(in.ChosenLengths[i])
		}
		if in.RejectedLengths != nil {
			lr[i] = float64(in.RejectedLengths[i])
		}
	}
	bpc, bpr, brc, brr := pc, pr, rc, rr
	// Log-ratios, f-DPO scores (= log-ratios under reverse_kl) and the
	// score difference z.
	cl, rl, z := make([]float64, n), make([]float64, n), make([]float64, n)
	cs, rs := make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		cl[i] = bpc[i] - brc[i]
		rl[i] = bpr[i] - brr[i]
		cs[i], rs[i] = o.fScore(cl[i]), o.fScore(rl[i])
		z[i] = cs[i] - rs[i]
	}

	per := make([]float64, n)
	for _, t := range o.Terms {
		switch t.Name {
		case Sigmoid:
			for i := range per {
				per[i] = smoothed(beta*z[i], eps)
			}
		case Hinge:
			for i := range per {
				per[i] = math.Max(1-beta*z[i], 0)
			}
		case IPO:
			for i := range per { // TRL 1.x: per-token scores
				d := cs[i]/lc[i] - rs[i]/lr[i] - 1/(2*beta)
				per[i] = d * d
			}
		case Robust:
			for i := range per {
				x := beta * z[i]
				per[i] = (-(1-eps)*logSigmoid(x) + eps*logSigmoid(-x)) / (1 - 2*eps)
			}
		case ExoPair:
			e := o.exoEpsilon()
			for i := range per {
				x := beta * z[i]
				per[i] = sigmoid(x)*(logSigmoid(x)-math.Log1p(-e)) + sigmoid(-x)*(logSigmoid(-x)-math.Log(e))
			}
		case NCAPair:
			for i := range per {
				per[i] = -logSigmoid(beta*cl[i]) - 0.5*logSigmoid(-beta*cl[i]) - 0.5*logSigmoid(-beta*rl[i])
			}
		case BCOPair:
			s := 0.0
			for i := 0; i < n; i++ {
				s += beta*cl[i] + beta*rl[i]
			}
			r.BCOBatchMean = s / float64(2*n)
			bco.Update(r.BCOBatchMean)
			delta := bco.Mean
			for i := range per {
				per[i] = -logSigmoid(beta*cl[i]-delta) - logSigmoid(-(beta*rl[i] - delta))
			}
		case SPPOHard:
			for i := range per {
				a := cl[i] - 0.5/beta
				b := rl[i] + 0.5/beta
				per[i] = a*a + b*b
			}
		case AOT:
			pol, ref := make([]float64, n), make([]float64, n)
			for i := 0; i < n; i++ {
				pol[i] = bpc[i] - bpr[i]
				ref[i] = brc[i] - brr[i]
			}
			ps, rs := sortedCopy(pol), sortedCopy(ref)
			for i := range per {
				per[i] = smoothed(beta*(ps[i]-rs[i]), eps)
			}
		case AOTUnpaired:
			cs, rs := sortedCopy(cl), sortedCopy(rl)
			for i := range per {
				per[i] = smoothed(beta*(cs[i]-rs[i]), eps)
			}
		case APOZero:
			for i := range per {
				per[i] = 1 - sigmoid(beta*cl[i]) + sigmoid(beta*rl[i])
			}
		case APODown:
			for i := range per {
				per[i] = sigmoid(beta*cl[i]) + 1 - sigmoid(beta*z[i])
			}
		case DiscoPOP:
			for i := range per {
				x := beta * z[i]
				m := sigmoid(x / o.DiscoPOPTau)
				per[i] = -logSigmoid(x)*(1-m) + math.Exp(logSigmoid(x/o.DiscoPOPTau)-x)
			}
		case SigmoidNorm:
			for i := range per {
				zn := cs[i]/lc[i] - rs[i]/lr[i]
				per[i] = smoothed(beta*zn, eps)
			}
		case SFT:
			raw := pc
			if in.RawPolicyChosen != nil {
				raw = in.RawPolicyChosen
			}
			sp, sl := 0.0, 0.0
			for i := 0; i < n; i++ {
				sp += raw[i]
				sl += lc[i]
			}
			for i := range per {
				per[i] = -sp / sl
			}
		case SimPO:
			for i := range per {
				u := beta*(pc[i]/lc[i]-pr[i]/lr[i]) - o.SimPOGamma
				per[i] = smoothed(u, eps)
			}
		default:
			return r, fmt.Errorf("dpo: unknown loss %q", t.Name)
		}
		if in.Weights != nil {
			for i := range per {
				per[i] *= in.Weights[i]
			}
		}
		r.Loss += t.Weight * mean(per)
	}

	// Metrics.
	mpc, mpr, mrc, mrr := pc, pr, rc, rr
	if o.averagedMetrics() {
		mpc, mpr, mrc, mrr = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for i := 0; i < n; i++ {
			mpc[i], mpr[i] = pc[i]/lc[i], pr[i]/lr[i]
			mrc[i], mrr[i] = rc[i]/lc[i], rr[i]/lr[i]
		}
	}
	r.ChosenRewards, r.RejectedRewards = make([]float64, n), make([]float64, n)
	acc, margins := make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		r.ChosenRewards[i] = beta * (mpc[i] - mrc[i])
		r.RejectedRewards[i] = beta * (mpr[i] - mrr[i])
		if r.ChosenRewards[i] > r.RejectedRewards[i] {
			acc[i] = 1
		}
		margins[i] = r.ChosenRewards[i] - r.RejectedRewards[i]
	}
	r.Metrics = Metrics{
		Loss:              r.Loss,
		RewardsChosen:     mean(r.ChosenRewards),
		RewardsRejected:   mean(r.RejectedRewards),
		RewardsAccuracies: mean(acc),
		RewardsMargins:    mean(margins),
		LogpsChosen:       mean(mpc),
		LogpsRejected:     mean(mpr),
	}
	return r, nil
}
