package dpo

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// EvalSummary is the held-out evaluation of scored pairs (dpo-score's
// summary): what Evaluation.Summary returns.
type EvalSummary struct {
	Pairs int64   `json:"pairs"`
	Beta  float64 `json:"beta"`
	// ReferenceFree is true for length-normalised (SimPO) scoring.
	ReferenceFree bool `json:"reference_free"`
	// Accuracy counts margin > 0 as 1 and ties as 1/2 (so a policy equal to
	// its reference scores 0.5); StrictAccuracy is TRL's rewards/accuracies
	// (ties count 0).
	Accuracy       float64    `json:"accuracy"`
	AccuracyCI95   [2]float64 `json:"accuracy_ci95"`
	StrictAccuracy float64    `json:"strict_accuracy"`
	Ties           int64      `json:"ties"`
	RewardChosen   float64    `json:"mean_reward_chosen"`
	RewardRejected float64    `json:"mean_reward_rejected"`
	Margin         float64    `json:"mean_margin"`
	// PolicyPrefersChosen and ReferencePrefersChosen: how often the model's
	// own log-probability of the chosen completion beats the rejected one.
	PolicyPrefersChosen    float64     `json:"policy_prefers_chosen"`
	ReferencePrefersChosen *float64    `json:"reference_prefers_chosen,omitempty"`
	Worst                  []WorstPair `json:"worst"`
}

// WorstPair is one of the pairs with the lowest margin.
type WorstPair struct {
	ID       string  `json:"id"`
	Margin   float64 `json:"margin"`
	Prompt   string  `json:"prompt"`
	Chosen   string  `json:"chosen"`
	Rejected string  `json:"rejected"`
}

// Evaluation accumulates the statistics of scored pairs: reward accuracy
// (ties count half) with a bootstrap interval, TRL's strict accuracy, the
// mean rewards and margin, how often the policy (and the reference)
// prefers the chosen completion by log-probability, and the pairs with the
// lowest margins.
type Evaluation struct {
	n                   int64
	correct             []float64 // 1, 0.5 (tie) or 0 per pair, for the bootstrap
	sumRC, sumRR, sumM  float64
	strict, ties        int64
	policyPref, refPref int64
	worstN              int
	worst               []worstRow
}

type worstRow struct {
	id                       string
	margin                   float64
	prompt, chosen, rejected []int32
}

// NewEvaluation returns an empty evaluation keeping the worst lowest-margin
// pairs.
func NewEvaluation(worst int) *Evaluation { return &Evaluation{worstN: worst} }

// ScoredPair is one pair's numbers: the policy's and (when HasRef) the
// reference's summed log-probabilities, its rewards, and its token ids
// (kept for the worst pairs).
type ScoredPair struct {
	ID                           string
	PolicyChosen, PolicyRejected float64
	HasRef                       bool
	RefChosen, RefRejected       float64
	RewardChosen, RewardRejected float64
	Prompt, Chosen, Rejected     []int32 // cloned when kept
}

// Add records one pair.
func (a *Evaluation) Add(p ScoredPair) {
	rc, rr := p.RewardChosen, p.RewardRejected
	m := rc - rr
	a.n++
	a.sumRC += rc
	a.sumRR += rr
	a.sumM += m
	switch {
	case m > 0:
		a.strict++
		a.correct = append(a.correct, 1)
	case m == 0:
		a.ties++
		a.correct = append(a.correct, 0.5)
	default:
		a.correct = append(a.correct, 0)
	}
	if p.PolicyChosen > p.PolicyRejected {
		a.policyPref++
	}
	if p.HasRef && p.RefChosen > p.RefRejected {
		a.refPref++
	}
	if a.worstN > 0 && (len(a.worst) < a.worstN || m < a.worst[len(a.worst)-1].margin) {
		w := worstRow{id: p.ID, margin: m, prompt: slices.Clone(p.Prompt), chosen: slices.Clone(p.Chosen), rejected: slices.Clone(p.Rejected)}
		a.worst = append(a.worst, w)
		sort.SliceStable(a.worst, func(x, y int) bool { return a.worst[x].margin < a.worst[y].margin })
		if len(a.worst) > a.worstN {
			a.worst = a.worst[:a.worstN]
		}
	}
}

// Pairs returns the number of pairs added.
func (a *Evaluation) Pairs() int64 { return a.n }

// Summary returns the statistics of the pairs added (at least one): β and
// refFree as scored, hasRef whether the reference's preference is known,
// seed the bootstrap's (1,000 resamples), dec the worst pairs' text.
func (a *Evaluation) Summary(beta float64, refFree, hasRef bool, seed uint64, dec func([]int32) string) *EvalSummary {
	n := float64(a.n)
	s := &EvalSummary{
		Pairs: a.n, Beta: beta, ReferenceFree: refFree,
		Accuracy:            mean(a.correct),
		StrictAccuracy:      float64(a.strict) / n,
		Ties:                a.ties,
		RewardChosen:        a.sumRC / n,
		RewardRejected:      a.sumRR / n,
		Margin:              a.sumM / n,
		PolicyPrefersChosen: float64(a.policyPref) / n,
	}
	if hasRef {
		v := float64(a.refPref) / n
		s.ReferencePrefersChosen = &v
	}
	s.AccuracyCI95 = bootstrapCI(a.correct, 1000, seed)
	for _, w := range a.worst {
		s.Worst = append(s.Worst, WorstPair{ID: w.id, Margin: w.margin, Prompt: dec(w.prompt), Chosen: dec(w.chosen), Rejected: dec(w.rejected)})
	}
	return s
}

// bootstrapCI is the 95% percentile interval of the mean of v over B
// resamples with replacement.
func bootstrapCI(v []float64, B int, seed uint64) [2]float64 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	means := make([]float64, B)
	for b := range means {
		var s float64
		for range v {
			s += v[rng.IntN(len(v))]
		}
		means[b] = s / float64(len(v))
	}
	sort.Float64s(means)
	return [2]float64{means[int(0.025*float64(B))], means[int(math.Ceil(0.975*float64(B)))-1]}
}

// Format writes the human summary.
func (s *EvalSummary) Format(w io.Writer) {
	kind := "β·(log π − log π_ref)"
	if s.ReferenceFree {
		kind = "β·log π/|y| (reference-free)"
	}
	fmt.Fprintf(w, "pairs %d, β %g, reward %s\n", s.Pairs, s.Beta, kind)
	fmt.Fprintf(w, "reward accuracy %.3f (95%% CI %.3f–%.3f; ties count half: %d ties; strict %.3f)\n", s.Accuracy, s.AccuracyCI95[0], s.AccuracyCI95[1], s.Ties, s.StrictAccuracy)
	fmt.Fprintf(w, "mean reward chosen %.4f, rejected %.4f, margin %.4f\n", s.RewardChosen, s.RewardRejected, s.Margin)
	fmt.Fprintf(w, "policy prefers chosen by log-prob: %.3f", s.PolicyPrefersChosen)
	if s.ReferencePrefersChosen != nil {
		fmt.Fprintf(w, " (reference: %.3f)", *s.ReferencePrefersChosen)
	}
	fmt.Fprintln(w)
	if len(s.Worst) > 0 {
		fmt.Fprintln(w, "worst margins:")
		for _, p := range s.Worst {
			// %q: ids come from the input and must not drive the terminal.
			fmt.Fprintf(w, "  id %q margin %.4f\n    prompt   %q\n    chosen   %q\n    rejected %q\n", p.ID, p.Margin, p.Prompt, p.Chosen, p.Rejected)
		}
	}
}
