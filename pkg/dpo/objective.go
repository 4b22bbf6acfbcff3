package dpo

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Loss term names accepted by [Parse].
const (
	Sigmoid     = "sigmoid"
	Hinge       = "hinge"
	IPO         = "ipo"
	Robust      = "robust"
	ExoPair     = "exo_pair"
	NCAPair     = "nca_pair"
	BCOPair     = "bco_pair"
	SPPOHard    = "sppo_hard"
	AOT         = "aot"
	AOTUnpaired = "aot_unpaired"
	APOZero     = "apo_zero"
	APODown     = "apo_down"
	DiscoPOP    = "discopop"
	SigmoidNorm = "sigmoid_norm"
	SFT         = "sft"
	SimPO       = "simpo"
)

// aliases maps older TRL names to the names used here.
var aliases = map[string]string{
	"aot_pair": AOTUnpaired, // TRL <= 0.2x called the unpaired AOT loss "aot_pair".
}

// termInfo describes what a loss term needs.
type termInfo struct {
	reference bool // uses the reference log-probs
	lengths   bool // uses the completion lengths
}

var terms = map[string]termInfo{
	Sigmoid:     {reference: true},
	Hinge:       {reference: true},
	IPO:         {reference: true, lengths: true},
	Robust:      {reference: true},
	ExoPair:     {reference: true},
	NCAPair:     {reference: true},
	BCOPair:     {reference: true},
	SPPOHard:    {reference: true},
	AOT:         {reference: true},
	AOTUnpaired: {reference: true},
	APOZero:     {reference: true},
	APODown:     {reference: true},
	DiscoPOP:    {reference: true},
	SigmoidNorm: {reference: true, lengths: true},
	SFT:         {lengths: true},
	SimPO:       {lengths: true},
}

// Names returns the accepted loss term names, sorted.
func Names() []string {
	names := make([]string, 0, len(terms))
	for n := range terms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Term is one weighted loss term of an [Objective].
type Term struct {
	Name   string
	Weight float64
}

// Config holds the hyper-parameters shared by all terms. The defaults are
// TRL's (DPOConfig / CPOConfig).
type Config struct {
	// Beta is the inverse temperature β of every term (TRL default 0.1).
	// For ipo it is TRL's τ: the IPO target margin is 1/(2β).
	Beta float64
	// LabelSmoothing ε is the probability that a preference label is
	// flipped. It is used by robust (must be < 0.5), exo_pair (0 means
	// 1e-3), aot and aot_unpaired, as in TRL 1.x, and also by sigmoid,
	// sigmoid_norm and simpo (conservative DPO: -(1-ε)·log σ(βz) -
	// ε·log σ(-βz)), where TRL 1.x ignores it (see the package doc).
	LabelSmoothing float64
	// SimPOGamma γ is SimPO's target reward margin (TRL CPOConfig default 0.5).
	SimPOGamma float64
	// DiscoPOPTau is the temperature of discopop's mixing sigmoid (TRL 0.05).
	DiscoPOPTau float64
	// ReferenceFree treats every reference log-prob as 0 (TRL's
	// reference_free): the implicit reward becomes β·log π.
	ReferenceFree bool
	// FDivergence is TRL's f_divergence_type: reverse_kl ("" means it),
	// forward_kl, js_divergence or alpha_divergence. The terms built on the
	// chosen-minus-rejected difference use f'(π/π_ref) in place of the
	// log-ratio; the others refuse anything but reverse_kl (see fdiv.go).
	FDivergence string
	// FAlphaCoef is TRL's f_alpha_divergence_coef α (default 0.5), used
	// by alpha_divergence only.
	FAlphaCoef float64
}

// DefaultConfig returns TRL's defaults.
func DefaultConfig() Config {
	return Config{Beta: 0.1, SimPOGamma: 0.5, DiscoPOPTau: 0.05, FDivergence: ReverseKL, FAlphaCoef: 0.5}
}

// Objective is a weighted sum of loss terms with their hyper-parameters.
type Objective struct {
	Terms []Term
	Config
}

// Parse reads a loss specification such as "sigmoid", "sigmoid=1,sft=0.2"
// (RPO with α = 0.2) or "ipo=0.5,sigmoid" and validates it together with
// cfg. A term without "=weight" has weight 1 (TRL's default loss_weights).
// Names are case-sensitive; spaces around names and weights are ignored.
func Parse(spec string, cfg Config) (Objective, error) {
	var o Objective
	o.Config = cfg
	if strings.TrimSpace(spec) == "" {
		return o, fmt.Errorf("dpo: empty loss specification (want e.g. %q)", "sigmoid")
	}
	seen := map[string]bool{}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return o, fmt.Errorf("dpo: loss specification %q: term %d is empty", spec, i+1)
		}
		name, weightText, hasWeight := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if a, ok := aliases[name]; ok {
			name = a
		}
		if _, ok := terms[name]; !ok {
			return o, fmt.Errorf("dpo: loss specification %q: unknown loss %q (known: %s)",
				spec, name, strings.Join(Names(), ", "))
		}
		if seen[name] {
			return o, fmt.Errorf("dpo: loss specification %q: loss %q appears twice", spec, name)
		}
		seen[name] = true
		w := 1.0
		if hasWeight {
			weightText = strings.TrimSpace(weightText)
			var err error
			w, err = strconv.ParseFloat(weightText, 64)
			if err != nil {
				return o, fmt.Errorf("dpo: loss specification %q: weight of %q: %q is not a number", spec, name, weightText)
			}
			if math.IsNaN(w) || math.IsInf(w, 0) || w <= 0 {
				return o, fmt.Errorf("dpo: loss specification %q: weight of %q must be a positive finite number, got %s", spec, name, weightText)
			}
		}
		o.Terms = append(o.Terms, Term{Name: name, Weight: w})
	}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// Validate checks the terms and hyper-parameters.
func (o Objective) Validate() error {
	if len(o.Terms) == 0 {
		return fmt.Errorf("dpo: objective has no loss terms")
	}
	for _, t := range o.Terms {
		if _, ok := terms[t.Name]; !ok {
			return fmt.Errorf("dpo: unknown loss %q", t.Name)
		}
		if math.IsNaN(t.Weight) || math.IsInf(t.Weight, 0) || t.Weight <= 0 {
			return fmt.Errorf("dpo: weight of %q must be a positive finite number, got %v", t.Name, t.Weight)
		}
	}
	if !(o.Beta > 0) || math.IsInf(o.Beta, 0) {
		return fmt.Errorf("dpo: beta must be a positive finite number, got %v", o.Beta)
	}
	ls := o.LabelSmoothing
	if math.IsNaN(ls) || ls < 0 || ls >= 1 {
		return fmt.Errorf("dpo: label_smoothing must be in [0, 1), got %v", ls)
	}
	if o.Has(Robust) && ls >= 0.5 {
		return fmt.Errorf("dpo: label_smoothing must be in [0, 0.5) for the robust loss, got %v", ls)
	}
	if (o.Has(Sigmoid) || o.Has(SigmoidNorm) || o.Has(SimPO) || o.Has(AOT) || o.Has(AOTUnpaired)) && ls > 0.5 {
		return fmt.Errorf("dpo: label_smoothing must be in [0, 0.5], got %v", ls)
	}
	if o.Has(SimPO) && (math.IsNaN(o.SimPOGamma) || math.IsInf(o.SimPOGamma, 0)) {
		return fmt.Errorf("dpo: simpo_gamma must be finite, got %v", o.SimPOGamma)
	}
	if o.Has(DiscoPOP) && (!(o.DiscoPOPTau > 0) || math.IsInf(o.DiscoPOPTau, 0)) {
		return fmt.Errorf("dpo: discopop_tau must be a positive finite number, got %v", o.DiscoPOPTau)
	}
	return o.validateFDivergence()
}

// Has reports whether the objective contains the named term.
func (o Objective) Has(name string) bool {
	for _, t := range o.Terms {
		if t.Name == name {
			return true
		}
	}
	return false
}

// NeedsReference reports whether the objective reads reference log-probs:
// false for reference-free configurations and for objectives made only of
// simpo and sft. A trainer must refuse a stream without reference columns
// when it is true.
func (o Objective) NeedsReference() bool {
	if o.ReferenceFree {
		return false
	}
	for _, t := range o.Terms {
		if terms[t.Name].reference {
			return true
		}
	}
	return false
}

// NeedsLengths reports whether the objective reads the completion lengths
// (ipo, sigmoid_norm, simpo and sft do).
func (o Objective) NeedsLengths() bool {
	for _, t := range o.Terms {
		if terms[t.Name].lengths {
			return true
		}
	}
	return false
}

// averagedMetrics reports whether the log-probs that the rewards and logps
// metrics are computed from are length-averaged: only when the only
// preference term is simpo (TRL CPOTrainer reports averaged log-probs;
// TRL 1.x DPOTrainer always reports sums, ipo included).
func (o Objective) averagedMetrics() bool {
	simpo := false
	for _, t := range o.Terms {
		switch t.Name {
		case SimPO:
			simpo = true
		case SFT:
		default:
			return false
		}
	}
	return simpo
}

// exoEpsilon is the label smoothing the exo_pair term uses (TRL replaces 0
// by 1e-3, since log ε appears in the loss).
func (o Objective) exoEpsilon() float64 {
	if o.LabelSmoothing == 0 {
		return 1e-3
	}
	return o.LabelSmoothing
}

// String writes the objective back in the form Parse reads.
func (o Objective) String() string {
	var b strings.Builder
	for i, t := range o.Terms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Name)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(t.Weight, 'g', -1, 64))
	}
	return b.String()
}
