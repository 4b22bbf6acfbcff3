package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/engine"
)

// Learning-rate schedules (transformers' get_*_schedule_with_warmup).
const (
	SchedConstant = "constant"
	SchedLinear   = "linear"
	SchedCosine   = "cosine"
	// SchedCosineMinLR is transformers' cosine_with_min_lr: the cosine
	// decays to min_lr (or min_lr_rate × the learning rate), not to 0.
	SchedCosineMinLR = "cosine_with_min_lr"
)

// Config is the effective configuration of a training run. It is echoed to
// stderr and stored as train_config.json in every checkpoint.
type Config struct {
	Input string `json:"input"` // reference stream ("-" for stdin)
	Eval  string `json:"eval,omitempty"`
	Out   string `json:"out"`

	// Inputs are further streams read after Input, in order (shards).
	Inputs []string `json:"inputs,omitempty"`
	// AllowPartialShards accepts inputs that are an incomplete shard set
	// (arrowio.CheckInputs refuses one otherwise).
	AllowPartialShards bool `json:"allow_partial_shards,omitempty"`

	Model      string `json:"model,omitempty"`       // HF checkpoint directory to start from
	InitConfig string `json:"init_config,omitempty"` // config.json for a random initialisation
	InitSeed   int64  `json:"init_seed"`
	Tokenizer  string `json:"tokenizer,omitempty"` // directory whose tokenizer files are copied

	IgnoreTokenizerMismatch bool `json:"ignore_tokenizer_mismatch,omitempty"`

	Loss string `json:"loss"`
	// LossWeights, when set, are the weights of Loss's terms in order
	// (TRL's loss_weights); Loss then names the terms without "=weight".
	LossWeights    []float64 `json:"loss_weights,omitempty"`
	Beta           float64   `json:"beta"`
	LabelSmoothing float64   `json:"label_smoothing"`
	SimPOGamma     float64   `json:"simpo_gamma"`
	DiscoPOPTau    float64   `json:"discopop_tau"`
	ReferenceFree  bool      `json:"reference_free"`
	// LDAlpha is TRL's ld_alpha (LD-DPO): nil off; else the completion
	// tokens past the shorter completion of a pair count with this weight
	// in both log-probs (policy and, through the stream, reference).
	LDAlpha *float64 `json:"ld_alpha"`
	// FDivergence and FAlphaCoef are TRL's f_divergence_type and
	// f_alpha_divergence_coef.
	FDivergence string  `json:"f_divergence_type"`
	FAlphaCoef  float64 `json:"f_alpha_divergence_coef"`
	// UseWeighting is TRL's use_weighting (WPO pair weights).
	UseWeighting bool `json:"use_weighting"`
	// RouterAuxLossCoef is TRL's router_aux_loss_coef: the weight of a
	// mixture-of-experts model's router load-balancing loss; nil means the
	// model config's (see moe.go).
	RouterAuxLossCoef *float64 `json:"router_aux_loss_coef,omitempty"`

	LR        float64 `json:"learning_rate"`
	Scheduler string  `json:"lr_scheduler_type"`
	// SchedulerKwargs are transformers' lr_scheduler_kwargs: min_lr or
	// min_lr_rate (cosine_with_min_lr), num_cycles (the cosines).
	SchedulerKwargs SchedulerKwargs `json:"lr_scheduler_kwargs,omitzero"`
	WarmupSteps     int             `json:"warmup_steps"`
	WarmupRatio     float64         `json:"warmup_ratio"`
	WeightDecay     float64         `json:"weight_decay"`
	AdamBeta1       float64         `json:"adam_beta1"`
	AdamBeta2       float64         `json:"adam_beta2"`
	AdamEps         float64         `json:"adam_epsilon"`
	MaxGradNorm     float64         `json:"max_grad_norm"`

	BatchSize   int     `json:"per_device_train_batch_size"`
	BatchTokens int     `json:"batch_tokens"` // 0: no cap
	GradAccum   int     `json:"gradient_accumulation_steps"`
	Epochs      float64 `json:"num_train_epochs"` // a fraction stops after ceil(Epochs × steps per epoch) steps
	MaxSteps    int     `json:"max_steps"`        // > 0 stops after this many steps
	Seed        int64   `json:"seed"`

	SaveSteps      int `json:"save_steps"` // 0: only at the end
	SaveTotalLimit int `json:"save_total_limit"`
	LoggingSteps   int `json:"logging_steps"`
	EvalSteps      int `json:"eval_steps"`

	Backend           string `json:"backend,omitempty"`
	VocabChunk        int    `json:"vocab_chunk"`
	BF16              bool   `json:"bf16,omitempty"`
	GradCheckpointing bool   `json:"gradient_checkpointing,omitempty"`
	// Devices runs every step data-parallel over this many devices of an
	// XLA backend (engine.Options.Devices): a micro-batch is BatchSize
	// pairs per device, BatchSize × Devices pairs in all (the global
	// batch is BatchSize × Devices × GradAccum, as TRL/accelerate count
	// it). 0 or 1: one device.
	Devices int `json:"devices,omitempty"`
	// ShardParams (with Devices > 1) splits the weights, gradients and
	// AdamW moments over the devices instead of one copy on each
	// (engine.Options.ShardParams: FSDP/ZeRO-3 style); the numbers are
	// the replicated run's.
	ShardParams bool `json:"shard_params,omitempty"`
	// Layout switches off the throughput layouts of the micro-batches
	// (engine.Switches: shared prompt, packing, or all with Plain).
	Layout engine.Switches `json:"layout,omitzero"`
	// ReportTo lists where metrics go besides metrics.jsonl (always
	// written): "tensorboard" adds event files under Out/runs.
	ReportTo string `json:"report_to,omitempty"`

	LoRA LoRAConfig `json:"lora,omitzero"`

	// MaxMemory bounds the estimated peak memory of the run, checked
	// before step 1 (checkMemory): 0 means 90% of AvailableMemory, < 0 no
	// check. It shapes no result, so it is not stored.
	MaxMemory int64 `json:"-"`

	Resume bool `json:"-"`
	// Overwrite lets a fresh run replace an earlier run's files in Out.
	Overwrite bool `json:"-"`
	Quiet     bool `json:"-"`
	// Progress redraws a progress line in place on stderr (the CLI sets it
	// on a terminal); without it a plain line is logged every 30 s.
	Progress bool `json:"-"`
	// StopAfterSteps, when > 0, makes Run return ErrStopped after saving a
	// checkpoint at that step, as an interruption would (tests use it).
	StopAfterSteps int `json:"-"`
	// Saving, when not nil, is called with true before a checkpoint is
	// written and with false once it is complete (renamed) or removed: the
	// CLI waits for a save in progress after SIGTERM, and otherwise stops
	// within its grace without waiting for the step in progress.
	Saving func(bool) `json:"-"`
}

// DefaultConfig returns the defaults: TRL's DPOConfig where it has one
// (learning rate 1e-6, β 0.1, AdamW 0.9/0.999/1e-8, no weight decay,
// max_grad_norm 1, linear schedule, logging every 10 steps).
func DefaultConfig() Config {
	d := dpo.DefaultConfig()
	return Config{
		Input:          "-",
		Loss:           dpo.Sigmoid,
		Beta:           d.Beta,
		LabelSmoothing: d.LabelSmoothing,
		SimPOGamma:     d.SimPOGamma,
		DiscoPOPTau:    d.DiscoPOPTau,
		FDivergence:    d.FDivergence,
		FAlphaCoef:     d.FAlphaCoef,
		LR:             1e-6,
		Scheduler:      SchedLinear,
		AdamBeta1:      0.9,
		AdamBeta2:      0.999,
		AdamEps:        1e-8,
		MaxGradNorm:    1,
		BatchSize:      8,
		GradAccum:      1,
		Epochs:         1,
		Seed:           42,
		SaveTotalLimit: 0,
		LoggingSteps:   10,
		VocabChunk:     0,
	}
}

// Objective returns the parsed loss specification, with LossWeights.
func (c *Config) Objective() (dpo.Objective, error) {
	o, err := dpo.Parse(c.Loss, dpo.Config{
		Beta:           c.Beta,
		LabelSmoothing: c.LabelSmoothing,
		SimPOGamma:     c.SimPOGamma,
		DiscoPOPTau:    c.DiscoPOPTau,
		ReferenceFree:  c.ReferenceFree,
		FDivergence:    c.FDivergence,
		FAlphaCoef:     c.FAlphaCoef,
	})
	if err != nil || c.LossWeights == nil {
		return o, err
	}
	return withWeights(o, c.Loss, c.LossWeights)
}

// ConfigError is an invalid configuration (a usage error for the CLI).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Validate checks the hyper-parameters; errors are *ConfigError.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return &ConfigError{Err: fmt.Errorf(format, args...)}
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if _, err := parseReportTo(c.ReportTo); err != nil {
		return &ConfigError{Err: err}
	}
	switch {
	case c.Out == "":
		return bad("--out DIR is required")
	case c.Model == "" && c.InitConfig == "" && !c.Resume:
		return bad("one of --model DIR or --init-config config.json is required")
	case c.Eval == "-":
		return bad("--eval must name a file (stdin is the training stream)")
	case c.Model != "" && c.InitConfig != "":
		return bad("--model and --init-config are exclusive")
	case !finite(c.LR) || c.LR < 0:
		return bad("--lr %v: must be a finite number >= 0", c.LR)
	case c.WarmupSteps < 0:
		return bad("--warmup-steps %d: must be >= 0", c.WarmupSteps)
	case !finite(c.WarmupRatio) || c.WarmupRatio < 0 || c.WarmupRatio > 1:
		return bad("--warmup-ratio %v: must be in [0, 1]", c.WarmupRatio)
	case c.WarmupSteps > 0 && c.WarmupRatio > 0:
		return bad("--warmup-steps and --warmup-ratio are exclusive")
	case c.Scheduler != SchedConstant && c.Scheduler != SchedLinear && c.Scheduler != SchedCosine && c.Scheduler != SchedCosineMinLR:
		return bad("--lr-scheduler %q: want constant, linear, cosine or cosine_with_min_lr", c.Scheduler)
	case !finite(c.WeightDecay) || c.WeightDecay < 0:
		return bad("--weight-decay %v: must be >= 0", c.WeightDecay)
	case !(c.AdamBeta1 >= 0 && c.AdamBeta1 < 1) || !(c.AdamBeta2 >= 0 && c.AdamBeta2 < 1):
		return bad("adam betas (%v, %v): must be in [0, 1)", c.AdamBeta1, c.AdamBeta2)
	case !(c.AdamEps > 0) || !finite(c.AdamEps):
		return bad("adam epsilon %v: must be > 0", c.AdamEps)
	case !finite(c.MaxGradNorm) || c.MaxGradNorm < 0:
		return bad("--max-grad-norm %v: must be >= 0 (0 disables clipping)", c.MaxGradNorm)
	case c.BatchSize < 1:
		return bad("--batch-size %d: must be >= 1", c.BatchSize)
	case c.BatchTokens < 0:
		return bad("--batch-tokens %d: must be >= 0 (0: no cap)", c.BatchTokens)
	case c.Devices < 0:
		return bad("--devices %d: must be >= 1 (dpo-train needs an explicit count: the global batch depends on it)", c.Devices)
	case c.ShardParams && c.devices() == 1:
		return bad("--shard-params splits the weights over several devices: it needs --devices N, N > 1")
	case c.GradAccum < 1:
		return bad("--grad-accum %d: must be >= 1", c.GradAccum)
	case !finite(c.Epochs) || c.Epochs <= 0:
		return bad("--epochs %v: must be > 0", c.Epochs)
	case c.MaxSteps < 0:
		return bad("--max-steps %d: must be >= 0", c.MaxSteps)
	case c.SaveSteps < 0 || c.SaveTotalLimit < 0 || c.LoggingSteps < 0 || c.EvalSteps < 0:
		return bad("--save-steps, --save-total-limit, --logging-steps and --eval-steps must be >= 0")
	case c.VocabChunk < 0:
		return bad("--vocab-chunk %d: must be >= 0", c.VocabChunk)
	}
	if err := c.SchedulerKwargs.validate(c.Scheduler, c.LR); err != nil {
		return &ConfigError{Err: err}
	}
	if err := c.LoRA.validate(c); err != nil {
		return err
	}
	obj, err := c.Objective()
	if err != nil {
		return &ConfigError{Err: fmt.Errorf("--loss %q: %w", c.Loss, err)}
	}
	return c.validateTRLOptions(obj)
}

// ErrStopped is returned when the run was interrupted (context cancelled
// or StopAfterSteps reached) after saving a checkpoint.
var ErrStopped = errors.New("train: stopped; resume with --resume")

// devices is the number of devices a micro-batch is split over (at least 1).
func (c *Config) devices() int { return max(1, c.Devices) }

// devicesIdent is the device count in a run's identity: 0 on one device,
// so that identities from before --devices stand.
func (c *Config) devicesIdent() int {
	if c.devices() == 1 {
		return 0
	}
	return c.Devices
}
