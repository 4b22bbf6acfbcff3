package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dpo-go/dpo/pkg/train"
)

// parseFloats reads "1,0.5,2".
func parseFloats(v string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(v, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%q is not a finite number", strings.TrimSpace(f))
		}
		out = append(out, x)
	}
	return out, nil
}

// trDPOFlags records TRL's TR-DPO options, which dpo-train refuses.
type trDPOFlags struct{ names []string }

func (t *trDPOFlags) set(name string) func(string) error {
	return func(string) error { t.names = append(t.names, "--"+name); return nil }
}

func (t *trDPOFlags) setBool(name string) func(string) error {
	return func(v string) error {
		on, err := strconv.ParseBool(v)
		if on {
			t.names = append(t.names, "--"+name)
		}
		return err
	}
}

func (t *trDPOFlags) err() error {
	if len(t.names) == 0 {
		return nil
	}
	return usagef("%s: TR-DPO (TRL's sync_ref_model, ref_model_mixup_alpha, ref_model_sync_steps) updates the reference model during training, but dpo-train reads reference log-probs precomputed by dpo-reflogp and holds no reference model to update (TRL refuses sync_ref_model with precompute_ref_log_probs for the same reason)", strings.Join(t.names, ", "))
}

// trlPeft applies TRL's use_peft: on, the LoRA flags not given take TRL
// ModelConfig's defaults (lora_r 16, lora_alpha 32, lora_dropout 0.05);
// off, the LoRA flags are dropped, as TRL ignores lora_* without use_peft.
func trlPeft(l *train.LoRAConfig, on bool, set map[string]bool) {
	if !on {
		*l = train.LoRAConfig{Alpha: train.DefaultLoRAAlpha, Adapter: l.Adapter, Merge: l.Merge}
		return
	}
	if !set["lora-r"] && l.Adapter == "" {
		l.R = 16
	}
	if !set["lora-alpha"] {
		l.Alpha = 32
	}
	if !set["lora-dropout"] {
		l.Dropout = 0.05
	}
}

// addRPO applies older TRL's rpo_alpha: the NLL of the chosen completions
// (the sft term) added with weight alpha.
func addRPO(c *train.Config, alpha float64) {
	if strings.Contains(c.Loss, "=") {
		c.Loss += ",sft=" + strconv.FormatFloat(alpha, 'g', -1, 64)
		return
	}
	if c.LossWeights == nil {
		for range strings.Split(c.Loss, ",") {
			c.LossWeights = append(c.LossWeights, 1)
		}
	}
	c.Loss += ",sft"
	c.LossWeights = append(c.LossWeights, alpha)
}
