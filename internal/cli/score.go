package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// Columns dpo-score appends after policy_chosen_logps and
// policy_rejected_logps.
const (
	colRewardChosen   = arrowio.ColRewardChosen
	colRewardRejected = arrowio.ColRewardRejected
	colRewardMargin   = arrowio.ColRewardMargin
	colCorrect        = arrowio.ColCorrect
)

const scoreUsage = `Usage: dpo-score --policy DIR [flags] [ref.arrow ...|-] > scored.arrow

Scores preference pairs with a policy: appends policy_chosen_logps,
policy_rejected_logps, the implicit rewards reward_chosen and reward_rejected
(β·(log π − log π_ref)), reward_margin and correct (margin > 0), keeping every
input column and row. A summary (preference accuracy with a 95% bootstrap
interval, mean rewards and margin, the worst pairs as text) goes to stderr,
and with --summary to a JSON file. Several inputs (or glob patterns, expanded
in lexical order) are read one after the other, Arrow IPC files as well as
streams; --shard I/N scores one contiguous slice of the rows (docs/shards.md).

Reference-free policies (SimPO) are scored with length-normalised
log-probabilities: reward = β·log π(y|x)/|y|; the stream then needs no
reference columns.

With --rank, a completions stream (dpo-sample's output with dpo-reflogp's
ref_logp) gets policy_logp, reward = β·(policy_logp − ref_logp) and rank
within each prompt id (1 = highest reward; equal rewards by sample_index).
With judge scores (a score column, or --scores judged.jsonl) the summary says
how often the top-ranked candidate has the judge's best score (ties for best
count as hits) and the mean judge score of the top-ranked, a random and the
best candidate.

Example:
  dpo-score --policy out/ heldout-ref.arrow --summary summary.json > scored.arrow
  dpo-score --policy out/ --rank --scores judged.jsonl samples-ref.arrow > ranked.arrow

Exit status: 0 success, 1 failure, 2 usage error.
`

// ScoreSummary is what dpo-score reports (dpo.EvalSummary).
type ScoreSummary = dpo.EvalSummary

// WorstPair is one of the pairs with the lowest margin.
type WorstPair = dpo.WorstPair

// scoreFlags is dpo-score's flag set and the values its flags set.
type scoreFlags struct {
	fs          *flag.FlagSet
	policy      *string
	beta        *float64
	refFree     *string
	out         *string
	format      *string
	withText    *bool
	summaryPath *string
	worst       *int
	tokDir      *string
	mf          *modelFlags
	seed        *uint64
	rank        *bool
	scoresPath  *string
	shard       *shardSpec
	std         *stdFlags
}

func newScoreFlags(stderr io.Writer) *scoreFlags {
	fs := newFlagSet(toolScore, stderr, scoreUsage)
	return &scoreFlags{
		fs:          fs,
		policy:      fs.String("policy", "", "policy to score: a Hugging Face checkpoint `DIR` (e.g. dpo-train's --out)"),
		beta:        fs.Float64("beta", 0, "β of the implicit reward (default: the one dpo-train recorded in the checkpoint's dpo.json, else 0.1)"),
		refFree:     fs.String("reference-free", "auto", "length-normalised reference-free scoring (SimPO): auto (from dpo.json), true, false"),
		out:         fs.String("o", "-", "output `FILE` (- for stdout), written atomically"),
		format:      fs.String("format", "arrow", "output format: arrow (dpo stream) or jsonl"),
		withText:    fs.Bool("text", false, "with --format jsonl: add the decoded prompt, chosen and rejected text to each row (needs the stream's tokenizer)"),
		summaryPath: fs.String("summary", "", "write the summary as JSON to this `FILE`"),
		worst:       fs.Int("worst", 5, "how many worst-margin pairs to show as text"),
		tokDir:      fs.String("tokenizer", "", "tokenizer `DIR` or tokenizer.json used to decode the worst pairs (default: the policy's, when it matches the stream)"),
		mf:          addModelFlags(fs),
		seed:        fs.Uint64("seed", 1, "seed of the bootstrap resampling"),
		rank:        fs.Bool("rank", false, "rank a completions stream (dpo-sample, then dpo-reflogp): append policy_logp, reward and rank within each prompt id (docs/judges.md)"),
		scoresPath:  fs.String("scores", "", "with --rank: the judge's JSONL `FILE` (id, sample_index, score per line), joined to the completions; a score column in the stream is used without it"),
		shard:       addShardFlag(fs),
		std:         addStdFlags(fs),
	}
}

// scoreConfig is dpo-score's configuration: its flags checked and
// resolved (β and reference-free scoring from the policy's dpo.json when
// not given).
type scoreConfig struct {
	policy      string
	beta        float64
	lengthNorm  bool // reward β·log π/|y| (reference-free policies)
	out         string
	format      string
	withText    bool
	summaryPath string
	worst       int
	tokDir      string
	seed        uint64
	rank        bool
	scoresPath  string // --scores: the judge's JSONL (--rank)
	inputs      []string
	quiet       bool
	log         io.Writer // stderr, or io.Discard with -q
	mf          *modelFlags
	shard       *shardSpec
}

// Score is dpo-score.
func Score(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, done, err := parseScore(args, stdout, stderr)
	if done || err != nil {
		return err
	}
	if cfg.rank {
		return scoreRank(ctx, cfg, stdin, stdout, stderr)
	}
	return scorePairs(ctx, cfg, stdin, stdout, stderr)
}

// parseScore parses and checks dpo-score's arguments; done is true when
// nothing is left to do (-h, --version).
func parseScore(args []string, stdout, stderr io.Writer) (_ *scoreConfig, done bool, _ error) {
	f := newScoreFlags(stderr)
	inputs, done, err := f.std.parseInputs(f.fs, args, stdout)
	if done || err != nil {
		return nil, done, err
	}
	cfg := &scoreConfig{policy: *f.policy, beta: *f.beta, out: *f.out, format: *f.format, withText: *f.withText,
		summaryPath: *f.summaryPath, worst: *f.worst, tokDir: *f.tokDir, seed: *f.seed, rank: *f.rank,
		scoresPath: *f.scoresPath, inputs: inputs, quiet: f.std.quiet, log: f.std.log(stderr), mf: f.mf, shard: f.shard}
	if cfg.policy == "" {
		return nil, false, usagef("--policy is required")
	}
	if err := cfg.mf.validate(); err != nil {
		return nil, false, err
	}
	if cfg.format != "arrow" && cfg.format != "jsonl" {
		return nil, false, usagef("--format %q: want arrow or jsonl", cfg.format)
	}
	if cfg.withText && cfg.format != "jsonl" {
		return nil, false, usagef("--text needs --format jsonl")
	}
	if cfg.format != "jsonl" {
		if err := refuseBinaryToTerminal("dpo-score", cfg.out, stdout); err != nil {
			return nil, false, err
		}
	}
	if cfg.beta < 0 || math.IsNaN(cfg.beta) || math.IsInf(cfg.beta, 0) {
		return nil, false, usagef("--beta must be a finite number > 0")
	}
	if err := cfg.shard.checkInputs(inputs, cfg.mf.ignore, cfg.log); err != nil {
		return nil, false, err
	}
	meta, hasMeta, err := ckpt.Read(cfg.policy)
	if err != nil {
		return nil, false, err
	}
	if cfg.beta == 0 {
		cfg.beta = 0.1
		if hasMeta && meta.Beta > 0 {
			cfg.beta = meta.Beta
		}
	}
	switch *f.refFree {
	case "auto":
		cfg.lengthNorm = hasMeta && meta.LengthNormalized
	case "true":
		cfg.lengthNorm = true
	case "false":
	default:
		return nil, false, usagef("--reference-free %q: want auto, true or false", *f.refFree)
	}
	switch {
	case cfg.rank && (cfg.withText || cfg.shard.active()):
		return nil, false, usagef("--rank does not take --text or --shard (ranks need every completion of a prompt)")
	case !cfg.rank && cfg.scoresPath != "":
		return nil, false, usagef("--scores needs --rank")
	}
	return cfg, false, nil
}

// scorePairs is dpo-score on a pairs stream with reference log-probs: the
// policy's log-probs, the implicit rewards and margins appended to every
// row, and the held-out evaluation (dpo.Evaluation) as the summary.
func scorePairs(ctx context.Context, cfg *scoreConfig, stdin io.Reader, stdout, stderr io.Writer) error {
	log, shard, mf, inputs := cfg.log, cfg.shard, cfg.mf, cfg.inputs
	outs, err := openOutputs(stdin, stdout, inputArgs(inputs), []pathArg{{"--summary", cfg.summaryPath}, {"-o", cfg.out}})
	if err != nil {
		return err
	}
	defer outs.abort()
	summaryOut, o := outs.files[0], outs.files[1]

	mem := memory.DefaultAllocator
	r, err := shard.open(inputs, stdin, mem, log)
	if err != nil {
		return err
	}
	defer r.Release()
	if r.Metadata().IsCompletions() {
		return fmt.Errorf("%s is a completions stream: rank its completions with --rank", r.Name())
	}
	hasRef := len(r.Schema().FieldIndices(arrowio.ColRefChosenLogps)) > 0 && len(r.Schema().FieldIndices(arrowio.ColRefRejectedLogps)) > 0
	if !hasRef && !cfg.lengthNorm {
		return fmt.Errorf("%s has no %s/%s columns: run dpo-reflogp first, or score a reference-free policy with --reference-free true", r.Name(), arrowio.ColRefChosenLogps, arrowio.ColRefRejectedLogps)
	}
	lm, err := mf.load(r.Metadata(), cfg.policy, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	budget, err := mf.budget(lm)
	if err != nil {
		return err
	}

	outMeta := arrowio.Derive(r.Metadata(), "dpo-score", Version)
	stage := map[string]any{"policy": cfg.policy, "beta": cfg.beta, "reference_free": cfg.lengthNorm, "backend": lm.eng.BackendName()}
	if mf.opts.BF16 {
		stage["bf16"] = true
	}
	if n := devicesMeta(lm.eng); n > 0 {
		stage["devices"] = n
	}
	if shard.active() {
		stage["shard"] = shard.String()
	}
	if a := lm.adapter; a != nil {
		stage["adapter_sha256"], stage["adapter_config"], stage["base_model"] = a.SHA256, a.Config, lm.base
	}
	if err := outMeta.SetStage(arrowio.StageScore, Version, stage); err != nil {
		return err
	}
	f64 := arrow.PrimitiveTypes.Float64
	schema, err := arrowio.AppendFields(arrowio.WithMetadata(r.Schema(), outMeta),
		arrow.Field{Name: arrowio.ColPolicyChosenLogps, Type: f64}, arrow.Field{Name: arrowio.ColPolicyRejectedLogps, Type: f64},
		arrow.Field{Name: colRewardChosen, Type: f64}, arrow.Field{Name: colRewardRejected, Type: f64},
		arrow.Field{Name: colRewardMargin, Type: f64}, arrow.Field{Name: colCorrect, Type: arrow.FixedWidthTypes.Boolean})
	if err != nil {
		return fmt.Errorf("%s: %w (is it already scored?)", r.Name(), err)
	}
	var sink scoredSink
	if cfg.format == "jsonl" {
		js := &jsonlSink{w: arrowio.NewLineWriter(o), schema: schema}
		if cfg.withText {
			if js.text, err = textDecoder(cfg.tokDir, cfg.policy, r.Metadata()); err != nil {
				return err
			}
		}
		sink = js
	} else {
		w, err := arrowio.NewWriter(o, schema, arrowio.WriterOptions{Mem: mem, File: arrowio.WantsIPCFile(o)})
		if err != nil {
			return err
		}
		sink = w
	}

	acc := dpo.NewEvaluation(cfg.worst)
	prog := newProgress(log, !cfg.quiet && isTerminal(stderr), "pairs")
	prog.countTotal(inputs, shard, mem)
	for batch := 0; r.Next(); batch++ {
		rec := r.Record()
		pc, pr, _, err := scoreBatch(ctx, lm.model, budget, rec, r.Name(), batch, nil)
		if err != nil {
			return err
		}
		p, _ := arrowio.ReadPairs(rec)
		var refC, refR []float64
		if hasRef {
			if refC, err = arrowio.LogProbColumn(rec, arrowio.ColRefChosenLogps); err != nil {
				return fmt.Errorf("%s: batch %d: %w", r.Name(), batch, err)
			}
			if refR, err = arrowio.LogProbColumn(rec, arrowio.ColRefRejectedLogps); err != nil {
				return fmt.Errorf("%s: batch %d: %w", r.Name(), batch, err)
			}
		}
		n := p.Rows
		rc, rr, margin, correct := make([]float64, n), make([]float64, n), make([]float64, n), make([]bool, n)
		for i := range n {
			var rC, rR float64
			if !cfg.lengthNorm {
				rC, rR = refC[i], refR[i]
			}
			rc[i] = dpo.ImplicitReward(cfg.beta, pc[i], rC, len(p.Chosen.Row(i)), cfg.lengthNorm)
			rr[i] = dpo.ImplicitReward(cfg.beta, pr[i], rR, len(p.Rejected.Row(i)), cfg.lengthNorm)
			margin[i] = rc[i] - rr[i]
			correct[i] = margin[i] > 0
			sp := dpo.ScoredPair{ID: p.ID.Value(i), PolicyChosen: pc[i], PolicyRejected: pr[i], RewardChosen: rc[i], RewardRejected: rr[i],
				Prompt: p.Prompt.Row(i), Chosen: p.Chosen.Row(i), Rejected: p.Rejected.Row(i)}
			if hasRef {
				sp.HasRef, sp.RefChosen, sp.RefRejected = true, refC[i], refR[i]
			}
			acc.Add(sp)
		}
		out, err := arrowio.AppendColumns(schema, rec, float64Array(mem, pc), float64Array(mem, pr), float64Array(mem, rc), float64Array(mem, rr), float64Array(mem, margin), boolArray(mem, correct))
		if err != nil {
			return err
		}
		err = sink.Write(out)
		releaseAll(out)
		if err != nil {
			return err
		}
		prog.update(acc.Pairs())
	}
	prog.done()
	if err := r.Err(); err != nil {
		return err
	}
	if acc.Pairs() == 0 && !shard.active() {
		return fmt.Errorf("%s: %w", r.Name(), errNoRows)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	if acc.Pairs() == 0 { // an empty --shard: a valid empty output, no summary
		if summaryOut != nil {
			summaryOut.Abort()
			outs.files[0] = nil
		}
		if err := outs.commit(); err != nil {
			return err
		}
		fmt.Fprintf(log, "shard %s holds no rows: empty output, no summary\n", shard)
		return nil
	}
	dec := scoreDecoder(cfg.tokDir, cfg.policy, r.Metadata())
	sum := acc.Summary(cfg.beta, cfg.lengthNorm, hasRef, cfg.seed, dec)
	if summaryOut != nil {
		if err := writeJSONOutput(summaryOut, "--summary", sum); err != nil {
			return err
		}
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if !cfg.quiet {
		sum.Format(stderr)
	}
	return nil
}

// releaseAll releases a record and the columns it was built from (the
// appended arrays each hold one reference of their own).
func releaseAll(rec arrow.RecordBatch) {
	n := int(rec.NumCols())
	cols := rec.Columns()
	rec.Release()
	for _, c := range cols[n-6:] {
		c.Release()
	}
}

// unitWriter writes p so that no flush splits it (arrowio.Output).
type scoredSink interface {
	Write(arrow.RecordBatch) error
	Close() error
}

// jsonlSink writes one JSON object per row, with every column, whole lines
// only: what reaches the output before a failure (a truncated input, a full
// disk) never ends in half a line.
type jsonlSink struct {
	w      *arrowio.LineWriter
	schema *arrow.Schema
	text   func([]int32) string // --text: decode prompt, chosen, rejected
}

func (s *jsonlSink) Write(rec arrow.RecordBatch) error {
	var buf strings.Builder
	for i := 0; i < int(rec.NumRows()); i++ {
		buf.Reset()
		buf.WriteByte('{')
		for c, col := range rec.Columns() {
			if c > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(s.schema.Field(c).Name)
			v, err := json.Marshal(col.GetOneForMarshal(i))
			if err != nil {
				return err
			}
			buf.Write(k)
			buf.WriteByte(':')
			buf.Write(v)
		}
		if s.text != nil {
			if err := writeText(&buf, s.text, rec, i); err != nil {
				return err
			}
		}
		buf.WriteString("}\n")
		if _, err := s.w.Write([]byte(buf.String())); err != nil {
			return err
		}
	}
	return nil
}

func (s *jsonlSink) Close() error { return s.w.Flush() }

// scoreDecoder returns a function that shows token ids as text: with the
// tokenizer given, the policy's own tokenizer when it is the stream's, or
// the builtin one; else as ids.
func scoreDecoder(tokDir, policy string, meta arrowio.Metadata) func([]int32) string {
	_, sha := meta.Tokenizer()
	try := func(path string) *tokenizer.Tokenizer {
		t, err := tokenizer.Load(path)
		if err != nil || (t.SHA256() != sha && tokDir == "") {
			return nil
		}
		return t
	}
	var tok *tokenizer.Tokenizer
	switch {
	case tokDir != "":
		tok = try(tokDir)
	case sha == "builtin:bytes":
		tok, _ = tokenizer.Builtin("bytes")
	default:
		if _, err := os.Stat(filepath.Join(policy, "tokenizer.json")); err == nil {
			tok = try(policy)
		}
	}
	if tok == nil {
		return func(ids []int32) string { return fmt.Sprint(ids) }
	}
	return func(ids []int32) string { return tok.Decode(ids, false) }
}
