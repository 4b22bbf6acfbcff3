package train

import (
	"fmt"
	"math"
	"strings"

	"github.com/dpo-go/dpo/pkg/dpo"
)

// RefStage and RefLDAlphaOption locate the ld_alpha the reference columns
// were computed with: the "ld_alpha" field of the stream's
// dpo.reflogp.options (docs/format.md). LD-DPO weighs the reference's
// tokens as the policy's (TRL applies ld_alpha to both), which a plain sum
// cannot be turned into, so --ld-alpha needs a stream that says so.
const (
	RefStage         = "reflogp"
	RefLDAlphaOption = "ld_alpha"
)

// validateTRLOptions checks ld_alpha, use_weighting and their combinations.
func (c *Config) validateTRLOptions(obj dpo.Objective) error {
	bad := func(format string, args ...any) error {
		return &ConfigError{Err: fmt.Errorf(format, args...)}
	}
	if a := c.LDAlpha; a != nil && !(*a >= 0 && *a <= 1) {
		return bad("--ld-alpha %v: must be in [0, 1] (1 weighs every token, 0 drops the tokens past the shorter completion)", *a)
	}
	if c.UseWeighting && (obj.Has(dpo.AOT) || obj.Has(dpo.AOTUnpaired)) {
		return bad("--use-weighting: not defined for aot and aot_unpaired, which sort the pairs and so misalign the per-pair weights (TRL refuses it too)")
	}
	if c.LDAlpha != nil && c.ReferenceFree {
		return bad("--ld-alpha with --reference-free: not supported")
	}
	return nil
}

// checkLDReference checks that the stream's reference was computed with
// the same ld_alpha.
func (c *Config) checkLDReference(d *dataset, needsRef bool) error {
	if c.LDAlpha == nil || !needsRef || d == nil {
		return nil
	}
	var opts map[string]any
	_ = d.meta.StageOptions(RefStage, &opts)
	v, ok := opts[RefLDAlphaOption].(float64)
	if !ok {
		return &ConfigError{Err: fmt.Errorf("--ld-alpha %v: the reference log-probs of %s are plain sums (its dpo.%s.options have no %q); LD-DPO needs the reference weighted by ld_alpha like the policy, as TRL computes it", *c.LDAlpha, d.name, RefStage, RefLDAlphaOption)}
	}
	if math.Abs(v-*c.LDAlpha) > 1e-12 {
		return &ConfigError{Err: fmt.Errorf("--ld-alpha %v: the reference log-probs of %s were computed with ld_alpha %v", *c.LDAlpha, d.name, v)}
	}
	return nil
}

// ldAlpha returns ld_alpha, or -1 when off.
func (c *Config) ldAlpha() float64 {
	if c.LDAlpha == nil {
		return -1
	}
	return *c.LDAlpha
}

// withWeights applies TRL-style loss_weights to o, parsed from spec.
func withWeights(o dpo.Objective, spec string, w []float64) (dpo.Objective, error) {
	if strings.Contains(spec, "=") {
		return o, fmt.Errorf("--loss-weights: the loss %q already has weights; give them in one place", spec)
	}
	if len(w) != len(o.Terms) {
		return o, fmt.Errorf("--loss-weights: %d weights for %d loss types (they must have the same length, as TRL's loss_weights and loss_type)", len(w), len(o.Terms))
	}
	for i := range o.Terms {
		o.Terms[i].Weight = w[i]
	}
	return o, o.Validate()
}

// trlNotes are log lines about where the configuration means something
// else than in TRL 1.x.
func trlNotes(c *Config, obj dpo.Objective) []string {
	var out []string
	if c.LabelSmoothing > 0 && (obj.Has(dpo.Sigmoid) || obj.Has(dpo.SigmoidNorm)) {
		out = append(out, fmt.Sprintf("note: --label-smoothing %v makes sigmoid/sigmoid_norm conservative DPO (cDPO); TRL 1.x ignores label_smoothing for these losses", c.LabelSmoothing))
	}
	if obj.Has(dpo.BCOPair) {
		out = append(out, "note: bco_pair uses the running reward mean δ of the BCO paper (TRL 0.x); TRL 1.x dropped it")
	}
	return out
}
