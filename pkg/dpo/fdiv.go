package dpo

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
)

// f-divergence regularizers (TRL's f_divergence_type, the f-DPO paper).
const (
	ReverseKL       = "reverse_kl"
	ForwardKL       = "forward_kl"
	JSDivergence    = "js_divergence"
	AlphaDivergence = "alpha_divergence"
)

// fDivergenceTerms are the terms built on the chosen-minus-rejected score
// difference, the only ones TRL allows with another f-divergence than
// reverse_kl (elsewhere a β·log Z(x) term does not cancel).
var fDivergenceTerms = map[string]bool{
	Sigmoid: true, SigmoidNorm: true, Hinge: true, IPO: true, ExoPair: true,
	Robust: true, DiscoPOP: true, SFT: true,
}

// fDivergence returns the divergence with "" read as reverse_kl.
func (o Objective) fDivergence() string {
	if o.FDivergence == "" {
		return ReverseKL
	}
	return o.FDivergence
}

// fIsReverseKL reports whether scores equal the log-ratios (reverse KL, or
// an α-divergence with α = 1, TRL's limit case).
func (o Objective) fIsReverseKL() bool {
	switch o.fDivergence() {
	case ReverseKL:
		return true
	case AlphaDivergence:
		return math.Abs(o.FAlphaCoef-1) < 1e-6
	}
	return false
}

func (o Objective) validateFDivergence() error {
	switch o.fDivergence() {
	case ReverseKL, ForwardKL, JSDivergence:
	case AlphaDivergence:
		if math.IsNaN(o.FAlphaCoef) || math.IsInf(o.FAlphaCoef, 0) {
			return fmt.Errorf("dpo: f_alpha_divergence_coef must be finite, got %v", o.FAlphaCoef)
		}
	default:
		return fmt.Errorf("dpo: f_divergence_type %q: want reverse_kl, forward_kl, js_divergence or alpha_divergence", o.FDivergence)
	}
	if o.fDivergence() == ReverseKL {
		return nil
	}
	for _, t := range o.Terms {
		if !fDivergenceTerms[t.Name] {
			return fmt.Errorf("dpo: f_divergence_type %q is only defined for sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop and sft (the terms built on the chosen-minus-rejected score, where β·log Z(x) cancels), not for %q", o.FDivergence, t.Name)
		}
	}
	return nil
}

// fScore maps a log-ratio u = log π/π_ref to TRL's f-DPO score f'(e^u).
func (o Objective) fScore(u float64) float64 {
	if o.fIsReverseKL() {
		return u
	}
	switch o.fDivergence() {
	case ForwardKL: // f'(t) = 1 - 1/t
		return 1 - math.Exp(-u)
	case JSDivergence: // f'(t) = log(2t/(t+1)) = log 2 + log σ(u)
		return math.Ln2 + logSigmoid(u)
	default: // alpha: (t^(α-1) - 1)/(α-1), exponent clamped at 80 as TRL does in float32
		a := o.FAlphaCoef - 1
		return (math.Exp(math.Min(a*u, 80)) - 1) / a
	}
}

// fScoreNode is fScore as a graph.
func (o Objective) fScoreNode(u *graph.Node) *graph.Node {
	if o.fIsReverseKL() {
		return u
	}
	switch o.fDivergence() {
	case ForwardKL:
		return graph.OneMinus(graph.Exp(graph.Neg(u)))
	case JSDivergence:
		return graph.AddScalar(logSigmoidNode(u), math.Ln2)
	default:
		a := o.FAlphaCoef - 1
		t := graph.MulScalar(u, a)
		t = graph.MinScalar(t, 80.0)
		return graph.MulScalar(graph.AddScalar(graph.Exp(t), -1), 1/a)
	}
}
