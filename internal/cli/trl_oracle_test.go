package cli

import (
	"io"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// TestTRLConfigOracle: the TRL YAML parsed by TRL's own TrlParser
// (ScriptArguments, DPOConfig, ModelConfig) gives every value dpo-train and
// dpo-tokenize apply, and transformers' scheduler (get_scheduler with the
// YAML's lr_scheduler_kwargs and warmup) gives dpo-train's learning rate
// at every step to 1e-12 relative.
func TestTRLConfigOracle(t *testing.T) {
	py := testrefs.Python(t, "trl", "torch")
	out := filepath.Join(t.TempDir(), "out")
	type values struct {
		Model             string    `json:"model"`
		OutputDir         string    `json:"output_dir"`
		Loss              string    `json:"loss"`
		TruncationMode    string    `json:"truncation_mode"`
		Scheduler         string    `json:"scheduler"`
		LearningRate      float64   `json:"learning_rate"`
		Epochs            float64   `json:"epochs"`
		Beta              float64   `json:"beta"`
		WeightDecay       float64   `json:"weight_decay"`
		MaxGradNorm       float64   `json:"max_grad_norm"`
		AdamBeta2         float64   `json:"adam_beta2"`
		LoraDropout       float64   `json:"lora_dropout"`
		LossWeights       []float64 `json:"loss_weights"`
		BatchSize         int       `json:"batch_size"`
		GradAccum         int       `json:"grad_accum"`
		MaxLength         int       `json:"max_length"`
		WarmupSteps       int       `json:"warmup_steps"`
		LoraR             int       `json:"lora_r"`
		LoraAlpha         float64   `json:"lora_alpha"`
		Seed              float64   `json:"seed"`
		LoggingSteps      float64   `json:"logging_steps"`
		SaveSteps         float64   `json:"save_steps"`
		EvalSteps         float64   `json:"eval_steps"`
		UsePeft           bool      `json:"use_peft"`
		BF16              bool      `json:"bf16"`
		GradCheckpointing bool      `json:"gradient_checkpointing"`
		LoraTargetModules []string  `json:"lora_target_modules"`
		LRs               []float64 `json:"lrs"`
	}
	const total = 37
	var paths []string
	var reqs []map[string]any
	for _, yml := range []string{trlYAML,
		strings.NewReplacer("cosine_with_min_lr", "cosine", "{min_lr_rate: 0.1}", "{num_cycles: 0.75}", "warmup_steps: 0.1", "warmup_steps: 3").Replace(trlYAML),
		strings.NewReplacer("{min_lr_rate: 0.1}", "{min_lr: 1.0e-7}", "learning_rate: 5.0e-7", "learning_rate: 3.0e-6").Replace(trlYAML),
		strings.NewReplacer("cosine_with_min_lr", "linear", "lr_scheduler_kwargs: {min_lr_rate: 0.1}\n", "").Replace(trlYAML),
	} {
		// bf16: false, since transformers refuses bf16 on a CPU-only machine.
		path := writeConfig(t, "dpo.yaml", strings.NewReplacer("MODEL", "m", "OUT", out, "bf16: true", "bf16: false").Replace(yml))
		paths = append(paths, path)
		reqs = append(reqs, map[string]any{"config": path, "total": total})
	}
	var wants []values
	testrefs.RunOracle(t, py, "trl_config.py", reqs, &wants)
	for i, path := range paths {
		want := wants[i]
		c, _, err := parseTrain([]string{"--config", path, "-q", "a.arrow"}, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		got := want
		got.Model, got.OutputDir, got.Loss, got.Scheduler = c.Model, c.Out, c.Loss, c.Scheduler
		got.LearningRate, got.Epochs, got.Beta, got.WeightDecay, got.MaxGradNorm, got.AdamBeta2 = c.LR, c.Epochs, c.Beta, c.WeightDecay, c.MaxGradNorm, c.AdamBeta2
		got.LossWeights, got.BatchSize, got.GradAccum = c.LossWeights, c.BatchSize, c.GradAccum
		got.Seed, got.LoggingSteps, got.SaveSteps, got.EvalSteps = float64(c.Seed), float64(c.LoggingSteps), float64(c.SaveSteps), float64(c.EvalSteps)
		got.UsePeft, got.LoraR, got.LoraAlpha, got.LoraDropout = c.LoRA.R > 0, c.LoRA.R, c.LoRA.Alpha, c.LoRA.Dropout
		got.LoraTargetModules = strings.Split(c.LoRA.Target, ",")
		got.BF16, got.GradCheckpointing = c.BF16, c.GradCheckpointing
		got.WarmupSteps = c.Warmup(total)
		// dpo-tokenize's share of the file.
		tf := tokenizeFlagsOf(t, path)
		got.MaxLength, got.TruncationMode = tf.MaxLength, tf.Truncation
		got.LRs = make([]float64, total)
		for k := range got.LRs {
			got.LRs[k] = c.LearningRate(k, got.WarmupSteps, total)
			if d := math.Abs(got.LRs[k] - want.LRs[k]); d > 1e-12*want.LearningRate {
				t.Errorf("%s: step %d: lr %g, transformers %g", c.Scheduler, k, got.LRs[k], want.LRs[k])
			}
		}
		got.LRs = want.LRs
		if !reflect.DeepEqual(got, want) {
			t.Errorf("dpo applies\n %+v\nTRL parses\n %+v", got, want)
		}
	}
}

// tokenizeFlagsOf returns dpo-tokenize's --max-length and
// --truncation-mode from a config file.
func tokenizeFlagsOf(t *testing.T, path string) (r struct {
	MaxLength  int
	Truncation string
}) {
	t.Helper()
	fs, f := newTokenizeFlags(io.Discard)
	if err := parse(fs, []string{"--config", path, "-q"}); err != nil {
		t.Fatal(err)
	}
	r.MaxLength, r.Truncation = f.cfg.MaxLength, f.cfg.Truncation
	return r
}
