package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dpo-go/dpo/pkg/train"
)

const trainUsage = `Usage: dpo-train [flags] ref.arrow ...|- --out DIR (--model DIR | --init-config config.json)

Trains a causal LM with Direct Preference Optimization (or another objective
of the family, see --loss) on a stream written by dpo-reflogp, and writes
Hugging Face checkpoints: DIR/checkpoint-<step>/ every --save-steps (with the
optimizer state, for --resume) and the final model at the top of DIR, with
metrics.jsonl (TRL's metric names) and plot.png. Several input streams (or
glob patterns, expanded in lexical order), such as dpo-reflogp --shard
outputs, are read in order as one; Arrow IPC files are read as well.

Example:
  dpo-tokenize --tokenizer ./base pairs.jsonl | dpo-reflogp --model ./base > ref.arrow
  dpo-train --model ./base --loss sigmoid --beta 0.1 --out ./dpo ref.arrow
  dpo-train --init-config small.json --loss sft --out ./ref pairs.arrow   # a reference by SFT
  dpo-train --model ./base --loss sigmoid,sft --loss-weights 1,0.2 --out ./rpo ref.arrow   # RPO
  dpo-train --model ./base --lora-r 16 --lora-target all-linear --lr 1e-4 --out ./lora ref.arrow

Objectives and options follow TRL 1.x's DPOConfig (same names and defaults,
except --epochs: 1 here, 3 in transformers);
TR-DPO's reference sync is refused, since the reference is precomputed.

With --lora-r R (or --adapter DIR) only a LoRA adapter is trained; DIR and
its checkpoints hold a PEFT adapter directory (adapter_config.json,
adapter_model.safetensors) for PeftModel.from_pretrained(base, DIR).

Exit status: 0 success, 1 failure (bad input, I/O, non-finite loss,
interrupted after saving a checkpoint), 2 usage error.
`

// Train is dpo-train.
func Train(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, done, err := parseTrain(args, stdout, stderr)
	if done || err != nil {
		return err
	}
	log := stderr
	if c.Quiet {
		log = io.Discard
	}
	c.Progress = !c.Quiet && isTerminal(stderr)
	c.Saving = trainSaving.Store
	res, err := train.Run(ctx, c, Version, stdin, log)
	var ce *train.ConfigError
	if errors.As(err, &ce) {
		return &UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "done: %d steps, final model in %s\n", res.Steps, res.OutDir)
	return nil
}

// trainFlags is dpo-train's flag set and the values its flags set.
type trainFlags struct {
	fs               *flag.FlagSet
	c                train.Config
	trDPO            trDPOFlags
	usePeft, version *bool
	rpoAlpha         *float64
}

func newTrainFlags(stderr io.Writer) *trainFlags {
	f := &trainFlags{c: train.DefaultConfig()}
	c := &f.c
	fs := newFlagSet(toolTrain, stderr, trainUsage)
	f.fs = fs
	fs.StringVar(&c.Out, "out", "", "output `DIR` (created; must be empty unless --resume or --overwrite; locked while the run lasts)")
	fs.StringVar(&c.Model, "model", "", "Hugging Face checkpoint `DIR` to start from")
	fs.StringVar(&c.InitConfig, "init-config", "", "start from a random initialisation of this config.json `FILE`")
	fs.Int64Var(&c.InitSeed, "init-seed", 0, "seed of the random initialisation (--init-config); default: --seed")
	fs.StringVar(&c.Tokenizer, "tokenizer", "", "copy tokenizer files from this `DIR` into the checkpoints (default: --model's, when they match the stream)")
	fs.BoolVar(&c.IgnoreTokenizerMismatch, "ignore-tokenizer-mismatch", false, "train even if the stream's tokenizer differs from the model's")
	addAllowPartialShardsFlag(fs, &c.AllowPartialShards)
	fs.StringVar(&c.Eval, "eval", "", "evaluation reference stream `FILE` (metrics with the eval_ prefix)")
	fs.StringVar(&c.Loss, "loss", c.Loss, "objective: sigmoid, ipo, simpo, sft, ... or weighted terms such as sigmoid=1,sft=0.2")
	fs.Func("loss-weights", "comma-separated `WEIGHTS` of the --loss terms in order (TRL's loss_weights; default 1 each), e.g. --loss sigmoid,sft --loss-weights 1,0.5", func(v string) error {
		w, err := parseFloats(v)
		c.LossWeights = w
		return err
	})
	fs.Float64Var(&c.Beta, "beta", c.Beta, "β, the inverse temperature")
	fs.Float64Var(&c.LabelSmoothing, "label-smoothing", c.LabelSmoothing, "label smoothing ε: robust, exo_pair, aot (as TRL); cDPO for sigmoid and sigmoid_norm (TRL 1.x ignores it there)")
	fs.Float64Var(&c.SimPOGamma, "simpo-gamma", c.SimPOGamma, "SimPO target reward margin γ")
	fs.Float64Var(&c.DiscoPOPTau, "discopop-tau", c.DiscoPOPTau, "discopop temperature")
	fs.BoolVar(&c.ReferenceFree, "reference-free", false, "treat reference log-probs as 0")
	fs.Func("ld-alpha", "LD-DPO α in [0, 1]: weight of the completion tokens past the shorter completion of each pair (TRL's ld_alpha; default off). The stream's reference must have been computed with the same α", func(v string) error {
		a, err := strconv.ParseFloat(v, 64)
		c.LDAlpha = &a
		return err
	})
	fs.StringVar(&c.FDivergence, "f-divergence-type", c.FDivergence, "f-DPO divergence: reverse_kl, forward_kl, js_divergence or alpha_divergence (TRL's f_divergence_type)")
	fs.Float64Var(&c.FAlphaCoef, "f-alpha-divergence-coef", c.FAlphaCoef, "α of --f-divergence-type alpha_divergence")
	fs.BoolVar(&c.UseWeighting, "use-weighting", false, "WPO: weigh each pair's loss by the policy's length-normalised probabilities of its completions (TRL's use_weighting)")
	fs.Func("router-aux-loss-coef", "mixture-of-experts models: weight of the router load-balancing loss added to the loss and logged as aux_loss (TRL's router_aux_loss_coef; default the model config's router_aux_loss_coef, 0 turns it off)", func(v string) error {
		a, err := strconv.ParseFloat(v, 64)
		c.RouterAuxLossCoef = &a
		return err
	})
	trDPO := &f.trDPO
	fs.BoolFunc("sync-ref-model", "refused: TR-DPO's reference sync needs a live reference model", trDPO.setBool("sync-ref-model"))
	fs.Func("ref-model-mixup-alpha", "refused (TR-DPO, see --sync-ref-model)", trDPO.set("ref-model-mixup-alpha"))
	fs.Func("ref-model-sync-steps", "refused (TR-DPO, see --sync-ref-model)", trDPO.set("ref-model-sync-steps"))
	fs.Float64Var(&c.LR, "lr", c.LR, "peak learning rate (TRL DPOConfig default 1e-6)")
	fs.StringVar(&c.Scheduler, "lr-scheduler", c.Scheduler, "learning-rate schedule after warmup: constant, linear, cosine, cosine_with_min_lr (needs min_lr or min_lr_rate in --lr-scheduler-kwargs)")
	fs.Func("lr-scheduler-kwargs", "the schedule's options as a JSON object, as transformers' lr_scheduler_kwargs: min_lr or min_lr_rate (cosine_with_min_lr), num_cycles (cosine, cosine_with_min_lr; default 0.5)", func(v string) error {
		d := json.NewDecoder(strings.NewReader(v))
		d.DisallowUnknownFields()
		c.SchedulerKwargs = train.SchedulerKwargs{}
		if err := d.Decode(&c.SchedulerKwargs); err != nil {
			return fmt.Errorf("want a JSON object of min_lr, min_lr_rate, num_cycles: %v", err)
		}
		return nil
	})
	fs.Func("warmup-steps", "linear warmup steps; below 1, a fraction of the total steps (transformers 5's float warmup_steps)", func(v string) error {
		x, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil:
			return err
		case x > 0 && x < 1:
			c.WarmupSteps, c.WarmupRatio = 0, x
		default:
			c.WarmupSteps = int(x) // transformers' get_warmup_steps: int(warmup_steps)
		}
		return nil
	})
	fs.Float64Var(&c.WarmupRatio, "warmup-ratio", 0, "warmup as a fraction of the total steps")
	fs.Float64Var(&c.WeightDecay, "weight-decay", 0, "AdamW weight decay (never applied to norms and biases)")
	fs.Float64Var(&c.AdamBeta1, "adam-beta1", c.AdamBeta1, "AdamW β1")
	fs.Float64Var(&c.AdamBeta2, "adam-beta2", c.AdamBeta2, "AdamW β2")
	fs.Float64Var(&c.AdamEps, "adam-epsilon", c.AdamEps, "AdamW ε")
	fs.Float64Var(&c.MaxGradNorm, "max-grad-norm", c.MaxGradNorm, "global gradient-norm clipping (0: off)")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "pairs per micro-batch")
	fs.IntVar(&c.BatchTokens, "batch-tokens", 0, "cap on padded tokens (2 x pairs x length) per micro-batch (0: none)")
	fs.IntVar(&c.GradAccum, "grad-accum", c.GradAccum, "micro-batches per optimizer step")
	fs.Float64Var(&c.Epochs, "epochs", c.Epochs, "passes over the data; a fraction stops after ceil(epochs × steps per epoch) steps, as transformers")
	fs.IntVar(&c.MaxSteps, "max-steps", 0, "stop after this many optimizer steps (0: all epochs)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the data shuffle (and of --init-config without --init-seed)")
	fs.IntVar(&c.SaveSteps, "save-steps", 0, "save a checkpoint every N steps (0: only at the end)")
	fs.IntVar(&c.SaveTotalLimit, "save-total-limit", 0, "keep only the last K checkpoints (0: all)")
	fs.IntVar(&c.LoggingSteps, "logging-steps", c.LoggingSteps, "log a line on stderr every N steps")
	fs.IntVar(&c.EvalSteps, "eval-steps", 0, "evaluate every N steps (and at the end) with --eval")
	fs.StringVar(&c.Backend, "backend", "", backendUsage)
	fs.IntVar(&c.Devices, "devices", 0, "run every step data-parallel over `N` devices of an XLA backend: micro-batches of --batch-size pairs per device, the global batch batch-size × N × grad-accum (0, 1: one device)")
	fs.BoolVar(&c.ShardParams, "shard-params", false, "with --devices N > 1: split the weights, gradients and AdamW state over the devices instead of one copy on each (FSDP/ZeRO-3 style; docs/scale.md)")
	fs.IntVar(&c.VocabChunk, "vocab-chunk", 0, "vocabulary columns whose logits exist at once (0: engine default)")
	fs.BoolVar(&c.BF16, "bf16", false, "bf16 mixed precision: matrix products in bfloat16 with float32 accumulation, float32 master weights")
	fs.Func("max-memory", "refuse, before step 1, a run whose estimated peak memory (weights, gradients, optimizer state, activations, logits) or one row's exceeds this `SIZE`: auto (90% of the available memory: cgroup limit or MemAvailable), 0 (no check), or a size such as 64GiB", func(v string) error {
		if strings.EqualFold(strings.TrimSpace(v), "auto") {
			c.MaxMemory = 0
			return nil
		}
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		if c.MaxMemory = n; n == 0 {
			c.MaxMemory = -1
		}
		return nil
	})
	fs.BoolVar(&c.GradCheckpointing, "gradient-checkpointing", false, "recompute each layer's activations in the backward pass (less memory, ~1/3 more compute; same results)")
	fs.StringVar(&c.ReportTo, "report-to", "jsonl", "where metrics go: jsonl (metrics.jsonl, always written), tensorboard (event files under --out/runs), none; comma-separated")
	loraFlags(fs, &c.LoRA)
	f.usePeft = fs.Bool("use-peft", false, "TRL's use_peft: train a LoRA adapter with TRL ModelConfig's defaults for the LoRA flags not given (--lora-r 16, --lora-alpha 32, --lora-dropout 0.05); =false drops the LoRA flags, as TRL ignores them")
	fs.Func("rpo-alpha", "older TRL's rpo_alpha: add the NLL of the chosen completions with this weight (--loss L,sft --loss-weights 1,ALPHA)", func(v string) error {
		a, err := strconv.ParseFloat(v, 64)
		f.rpoAlpha = &a
		return err
	})
	layoutFlags(fs, &c.Layout)
	fs.BoolVar(&c.Resume, "resume", false, "resume from the newest complete checkpoint in --out (refused if the stream, options or model differ from that run's)")
	fs.BoolVar(&c.Overwrite, "overwrite", false, "start a fresh run in a non-empty --out, removing the earlier run's checkpoints and files")
	fs.BoolVar(&c.Quiet, "q", false, "no log lines or progress on stderr")
	f.version = fs.Bool("version", false, "print the version and exit")
	return f
}

// parseTrain parses dpo-train's command line (and --config) into its
// configuration; done is true after --version.
func parseTrain(args []string, stdout, stderr io.Writer) (c train.Config, done bool, err error) {
	f := newTrainFlags(stderr)
	fs := f.fs
	if err := parse(fs, args); err != nil {
		return f.c, false, err
	}
	c = f.c
	if *f.version {
		fmt.Fprintln(stdout, versionLine("dpo-train"))
		return c, true, nil
	}
	if err := f.trDPO.err(); err != nil {
		return c, false, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[canonical(fl)] = true })
	if !set["init-seed"] {
		c.InitSeed = c.Seed
	}
	if set["use-peft"] {
		trlPeft(&c.LoRA, *f.usePeft, set)
	}
	if f.rpoAlpha != nil {
		addRPO(&c, *f.rpoAlpha)
	}
	inputs, err := expandInputs(fs.Args())
	if err != nil {
		return c, false, err
	}
	c.Input, c.Inputs = inputs[0], inputs[1:]
	return c, false, nil
}
