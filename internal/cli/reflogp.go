package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
)

const reflogpUsage = `Usage: dpo-reflogp --model DIR [flags] [pairs.arrow ...|-] > ref.arrow

Computes, with a frozen reference model, the summed log-probability of each
pair's chosen and rejected completion given its prompt, and appends them as
ref_chosen_logps and ref_rejected_logps (float64) to the tokenized stream,
keeping every input column and row in order. Several inputs (or glob
patterns, expanded in lexical order) are read one after the other; Arrow IPC
files are read as well as streams. --shard I/N scores one contiguous slice of
the rows, for job arrays (docs/shards.md).

On a completions stream (dpo-sample's output: one completion per row) it
appends ref_logp, the summed log-probability of completion_input_ids given
prompt_input_ids, for dpo-score --rank (docs/judges.md).

Example:
  dpo-tokenize --tokenizer ./sft-model pairs.jsonl | dpo-reflogp --model ./sft-model > ref.arrow

Exit status: 0 success, 1 failure, 2 usage error.
`

// reflogpOptions are recorded in the stream metadata.
type reflogpOptions struct {
	Model         string `json:"model"`
	ConfigSHA256  string `json:"config_sha256"`
	WeightsSHA256 string `json:"weights_sha256"`
	Architecture  string `json:"architecture"`
	Backend       string `json:"backend"`
	Devices       int    `json:"devices,omitempty"` // data-parallel devices, when more than one
	BatchTokens   int    `json:"batch_tokens"`
	VocabChunk    int    `json:"vocab_chunk,omitempty"`
	BF16          bool   `json:"bf16,omitempty"`
	Shard         string `json:"shard,omitempty"`
	// LDAlpha is TRL's ld_alpha the log-probs are weighted with (absent:
	// plain sums). dpo-train --ld-alpha requires the same value here.
	LDAlpha *float64 `json:"ld_alpha,omitempty"`
	// A LoRA adapter on the model (Model is then the adapter directory,
	// the hashes the base's): its directory hash and config.
	AdapterSHA256 string          `json:"adapter_sha256,omitempty"`
	AdapterConfig *adapter.Config `json:"adapter_config,omitempty"`
	BaseModel     string          `json:"base_model,omitempty"`
}

// reflogpFlags is dpo-reflogp's flag set and the values its flags set.
type reflogpFlags struct {
	fs            *flag.FlagSet
	modelDir, out *string
	codec         *string
	ldAlpha       *float64
	model         *modelFlags
	shard         *shardSpec
	std           *stdFlags
}

func newReflogpFlags(stderr io.Writer) *reflogpFlags {
	fs := newFlagSet(toolReflogp, stderr, reflogpUsage)
	return &reflogpFlags{
		fs:       fs,
		modelDir: fs.String("model", "", "reference model: a Hugging Face checkpoint `DIR` (config.json + safetensors)"),
		out:      fs.String("o", "-", "output `FILE` (- for stdout), written atomically"),
		model:    addModelFlags(fs),
		codec:    codecFlag(fs),
		ldAlpha:  fs.Float64("ld-alpha", -1, "TRL's ld_alpha (LD-DPO): weight of the tokens past the pair's shorter completion, in [0, 1] (default: off, plain sums); dpo-train --ld-alpha needs the same value"),
		shard:    addShardFlag(fs),
		std:      addStdFlags(fs),
	}
}

// Reflogp is dpo-reflogp.
func Reflogp(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newReflogpFlags(stderr)
	fs, modelDir, out, mf, codec, ldAlpha, shard, std := f.fs, f.modelDir, f.out, f.model, f.codec, f.ldAlpha, f.shard, f.std
	inputs, done, err := std.parseInputs(fs, args, stdout)
	if done || err != nil {
		return err
	}
	if *modelDir == "" {
		return usagef("--model is required")
	}
	var ld *float64
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "ld-alpha" {
			ld = ldAlpha
		}
	})
	if ld != nil && !(*ld >= 0 && *ld <= 1) {
		return usagef("--ld-alpha %v: must be in [0, 1]", *ld)
	}
	if err := mf.validate(); err != nil {
		return err
	}
	log := std.log(stderr)
	if err := shard.checkInputs(inputs, mf.ignore, log); err != nil {
		return err
	}
	if err := refuseBinaryToTerminal("dpo-reflogp", *out, stdout); err != nil {
		return err
	}
	outs, err := openOutputs(stdin, stdout, inputArgs(inputs), []pathArg{{"-o", *out}})
	if err != nil {
		return err
	}
	defer outs.abort()
	o := outs.files[0]

	mem := memory.DefaultAllocator
	r, err := shard.open(inputs, stdin, mem, log)
	if err != nil {
		return err
	}
	defer r.Release()
	meta := r.Metadata()
	completions := meta.IsCompletions() // one completion per row: adds ref_logp
	if completions {
		if ld != nil {
			return usagef("--ld-alpha weighs a pair's two completions; %s is a completions stream", r.Name())
		}
		if err := checkCompletionsInput(r, arrowio.ColRefLogp); err != nil {
			return err
		}
	}
	for _, c := range []string{arrowio.ColRefChosenLogps, arrowio.ColRefRejectedLogps} {
		if len(r.Schema().FieldIndices(c)) > 0 {
			return fmt.Errorf("%s already has a %s column: it is a reference stream already", r.Name(), c)
		}
	}
	lm, err := mf.load(meta, *modelDir, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	budget, err := mf.budget(lm)
	if err != nil {
		return err
	}
	cfg := lm.ck.Config
	opts := reflogpOptions{Backend: lm.eng.BackendName(), Devices: devicesMeta(lm.eng), Model: *modelDir, Architecture: string(cfg.Arch), BatchTokens: mf.opts.BatchTokens, VocabChunk: mf.opts.VocabChunk, BF16: mf.opts.BF16, Shard: shard.String(), LDAlpha: ld}
	if opts.ConfigSHA256, err = model.ConfigSHA256(lm.base); err != nil {
		return err
	}
	if opts.WeightsSHA256, err = model.WeightsSHA256(lm.base); err != nil {
		return err
	}
	if a := lm.adapter; a != nil {
		opts.AdapterSHA256, opts.AdapterConfig, opts.BaseModel = a.SHA256, &a.Config, lm.base
	}

	outMeta := arrowio.Derive(meta, "dpo-reflogp", Version)
	if err := outMeta.SetStage(arrowio.StageReflogp, Version, opts); err != nil {
		return err
	}
	added := []arrow.Field{
		{Name: arrowio.ColRefChosenLogps, Type: arrow.PrimitiveTypes.Float64},
		{Name: arrowio.ColRefRejectedLogps, Type: arrow.PrimitiveTypes.Float64}}
	if completions {
		added = []arrow.Field{{Name: arrowio.ColRefLogp, Type: arrow.PrimitiveTypes.Float64}}
	}
	schema, err := arrowio.AppendFields(arrowio.WithMetadata(r.Schema(), outMeta), added...)
	if err != nil {
		return err
	}
	w, err := arrowio.NewWriter(o, schema, arrowio.WriterOptions{Codec: *codec, Mem: mem, File: arrowio.WantsIPCFile(o)})
	if err != nil {
		return &UsageError{Err: err}
	}
	fmt.Fprintf(log, "reference model %s (%s, %d layers, vocab %d) on %s\n", *modelDir, cfg.Arch, cfg.NumLayers, cfg.VocabSize, opts.Backend)
	unit := "pairs"
	if completions {
		unit = "completions"
	}
	prog := newProgress(log, !std.quiet && isTerminal(stderr), unit)
	prog.countTotal(inputs, shard, mem)
	start := time.Now()
	var rows, tokens int64
	for batch := 0; r.Next(); batch++ {
		rec := r.Record()
		if completions {
			lp, n, err := scoreCompletions(ctx, lm.model, budget, rec, r.Name(), batch)
			if err != nil {
				return err
			}
			if err := appendColumns(w, rec, float64Array(mem, lp)); err != nil {
				return err
			}
			rows += rec.NumRows()
			tokens += n
			prog.update(rows)
			continue
		}
		chosen, rejected, n, err := scoreBatch(ctx, lm.model, budget, rec, r.Name(), batch, ld)
		if err != nil {
			return err
		}
		if err := appendColumns(w, rec, float64Array(mem, chosen), float64Array(mem, rejected)); err != nil {
			return err
		}
		rows += rec.NumRows()
		tokens += n
		prog.update(rows)
	}
	prog.done()
	if err := r.Err(); err != nil {
		return err
	}
	if rows == 0 && !shard.active() {
		return fmt.Errorf("%s: %w", r.Name(), errNoRows)
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := outs.commit(); err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(log, "scored %d %s (%d tokens) in %.1fs: %.0f tokens/s\n", rows, unit, tokens, el, float64(tokens)/max(el, 1e-9))
	return nil
}
