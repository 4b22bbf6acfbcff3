package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
)

const reflogpUsage = `Usage: dpo-reflogp --model DIR [flags] [pairs.arrow|-] > ref.arrow

Computes, with a frozen reference model, the summed log-probability of each
pair's chosen and rejected completion given its prompt, and appends them as
ref_chosen_logps and ref_rejected_logps (float64) to the tokenized stream,
keeping every input column and row in order.

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
	BatchTokens   int    `json:"batch_tokens"`
	VocabChunk    int    `json:"vocab_chunk,omitempty"`
	BF16          bool   `json:"bf16,omitempty"`
	// A LoRA adapter on the model (Model is then the adapter directory,
	// the hashes the base's): its directory hash and config.
	AdapterSHA256 string          `json:"adapter_sha256,omitempty"`
	AdapterConfig *adapter.Config `json:"adapter_config,omitempty"`
	BaseModel     string          `json:"base_model,omitempty"`
}

// Reflogp is dpo-reflogp.
func Reflogp(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("dpo-reflogp", stderr, reflogpUsage)
	modelDir := fs.String("model", "", "reference model: a Hugging Face checkpoint `DIR` (config.json + safetensors)")
	out := fs.String("o", "-", "output `FILE` (- for stdout), written atomically")
	mf := addModelFlags(fs)
	codec := fs.String("codec", arrowio.CodecZstd, "stream buffer compression: zstd, lz4, none")
	std := addStdFlags(fs)
	input, done, err := std.parseInput(fs, args, stdout)
	if done || err != nil {
		return err
	}
	if *modelDir == "" {
		return usagef("--model is required")
	}
	if err := mf.validate(); err != nil {
		return err
	}
	log := std.log(stderr)

	mem := memory.DefaultAllocator
	r, err := arrowio.Open(input, stdin, mem)
	if err != nil {
		return err
	}
	defer r.Release()
	meta := r.Metadata()
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
	cfg := lm.ck.Config
	opts := reflogpOptions{Backend: lm.eng.BackendName(), Model: *modelDir, Architecture: string(cfg.Arch), BatchTokens: mf.opts.BatchTokens, VocabChunk: mf.opts.VocabChunk, BF16: mf.opts.BF16}
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
	schema, err := arrowio.AppendFields(arrowio.WithMetadata(r.Schema(), outMeta),
		arrow.Field{Name: arrowio.ColRefChosenLogps, Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: arrowio.ColRefRejectedLogps, Type: arrow.PrimitiveTypes.Float64})
	if err != nil {
		return err
	}
	o, err := arrowio.CreateOutput(*out, stdout)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			o.Abort()
		}
	}()
	w, err := arrowio.NewWriter(o, schema, arrowio.WriterOptions{Codec: *codec, Mem: mem})
	if err != nil {
		return &UsageError{Err: err}
	}
	fmt.Fprintf(log, "reference model %s (%s, %d layers, vocab %d) on %s\n", *modelDir, cfg.Arch, cfg.NumLayers, cfg.VocabSize, opts.Backend)
	prog := newProgress(log, !std.quiet && isTerminal(stderr), "pairs")
	start := time.Now()
	var rows, tokens int64
	for batch := 0; r.Next(); batch++ {
		rec := r.Record()
		chosen, rejected, n, err := scoreBatch(ctx, lm.model, rec, r.Name(), batch)
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
	if rows == 0 {
		return fmt.Errorf("%s: %w", r.Name(), errNoRows)
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := o.Commit(); err != nil {
		return err
	}
	committed = true
	el := time.Since(start).Seconds()
	fmt.Fprintf(log, "scored %d pairs (%d tokens) in %.1fs: %.0f tokens/s\n", rows, tokens, el, float64(tokens)/max(el, 1e-9))
	return nil
}
