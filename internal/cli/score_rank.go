package cli

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/pairs"
)

// RankSummary is what dpo-score --rank reports (dpo.RankSummary).
type RankSummary = dpo.RankSummary

// rankBatch is one input batch held until the ranks are known.
type rankBatch struct {
	rec                 arrow.RecordBatch // retained
	policy, reward, sco []float64
	first               int // index of its first row in rows
}

// scoreRank is dpo-score --rank: it scores every completion of a
// completions stream with the policy, computes the implicit reward and each
// candidate's rank within its prompt id, and writes the stream with
// policy_logp, reward and rank (and score, from --scores) appended. Ranks
// need every row of an id, so the scored batches are held in memory until
// the input ends.
func scoreRank(ctx context.Context, cfg *scoreConfig, stdin io.Reader, stdout, stderr io.Writer) error {
	log := cfg.log
	ins := inputArgs(cfg.inputs)
	if cfg.scoresPath != "" {
		ins = append(ins, pathArg{"--scores", cfg.scoresPath})
	}
	outs, err := openOutputs(stdin, stdout, ins, []pathArg{{"--summary", cfg.summaryPath}, {"-o", cfg.out}})
	if err != nil {
		return err
	}
	defer outs.abort()
	summaryOut, o := outs.files[0], outs.files[1]

	mem := memory.DefaultAllocator
	r, err := arrowio.OpenAll(cfg.inputs, stdin, mem)
	if err != nil {
		return err
	}
	defer r.Release()
	r.SetWarnings(log)
	meta := r.Metadata()
	if !meta.IsCompletions() {
		return fmt.Errorf("%s is not a completions stream (no %s=%s in its metadata): --rank ranks dpo-sample's completions; score pairs without --rank", r.Name(), arrowio.KeyKind, arrowio.KindCompletions)
	}
	if err := checkCompletionsInput(r, arrowio.ColPolicyLogp); err != nil {
		return err
	}
	sc := r.Schema()
	hasRef := len(sc.FieldIndices(arrowio.ColRefLogp)) > 0
	if !hasRef && !cfg.lengthNorm {
		return fmt.Errorf("%s has no %s column: run dpo-reflogp on it first (or rank a reference-free policy with --reference-free true)", r.Name(), arrowio.ColRefLogp)
	}
	hasScore := len(sc.FieldIndices(arrowio.ColScore)) > 0
	var judge *pairs.JudgeScores
	if cfg.scoresPath != "" {
		if hasScore {
			return fmt.Errorf("%s already has a %s column; drop --scores or the column", r.Name(), arrowio.ColScore)
		}
		if judge, err = pairs.ReadJudgeScoresFile(cfg.scoresPath); err != nil {
			return fmt.Errorf("--scores: %w", err)
		}
	}
	lm, err := cfg.mf.load(meta, cfg.policy, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	budget, err := cfg.mf.budget(lm)
	if err != nil {
		return err
	}

	outMeta := arrowio.Derive(meta, "dpo-score", Version)
	stage := map[string]any{"policy": cfg.policy, "beta": cfg.beta, "reference_free": cfg.lengthNorm, "backend": lm.eng.BackendName(), "rank": true}
	if cfg.scoresPath != "" {
		stage["scores"] = cfg.scoresPath
	}
	if a := lm.adapter; a != nil {
		stage["adapter_sha256"], stage["adapter_config"], stage["base_model"] = a.SHA256, a.Config, lm.base
	}
	if err := outMeta.SetStage(arrowio.StageScore, Version, stage); err != nil {
		return err
	}
	f64 := arrow.PrimitiveTypes.Float64
	added := []arrow.Field{{Name: arrowio.ColPolicyLogp, Type: f64}, {Name: arrowio.ColReward, Type: f64}, {Name: arrowio.ColRank, Type: arrow.PrimitiveTypes.Int32}}
	if judge != nil {
		added = append(added, arrow.Field{Name: arrowio.ColScore, Type: f64})
	}
	schema, err := arrowio.AppendFields(arrowio.WithMetadata(sc, outMeta), added...)
	if err != nil {
		return fmt.Errorf("%s: %w (is it already ranked?)", r.Name(), err)
	}

	var batches []rankBatch
	defer func() {
		for _, b := range batches {
			b.rec.Release()
		}
	}()
	var rows []dpo.Candidate
	prog := newProgress(log, !cfg.quiet && isTerminal(stderr), "completions")
	for batch := 0; r.Next(); batch++ {
		rec := r.Record()
		c, err := arrowio.ReadCompletions(rec)
		if err != nil {
			return fmt.Errorf("%s: batch %d: %w", r.Name(), batch, err)
		}
		var ref, scores []float64
		if hasRef {
			if ref, err = arrowio.LogProbColumn(rec, arrowio.ColRefLogp); err != nil {
				return fmt.Errorf("%s: batch %d: %w", r.Name(), batch, err)
			}
		}
		if hasScore {
			if scores, err = arrowio.Float64Column(rec, arrowio.ColScore); err != nil {
				return fmt.Errorf("%s: batch %d: %w", r.Name(), batch, err)
			}
		}
		// The judge's scores first: a missing one fails before the model runs.
		b := rankBatch{rec: rec, reward: make([]float64, c.Rows), first: len(rows)}
		for i := range c.Rows {
			row := dpo.Candidate{ID: c.ID.Value(i), SampleIndex: c.SampleIndex[i], Score: math.NaN()}
			switch {
			case scores != nil:
				row.Score = scores[i]
			case judge != nil:
				s, ok := judge.Take(row.ID, int64(row.SampleIndex))
				if !ok {
					return fmt.Errorf("%s: batch %d, row %d (id %q, sample %d): no score in %s", r.Name(), batch, i, row.ID, row.SampleIndex, cfg.scoresPath)
				}
				row.Score = s
				b.sco = append(b.sco, s)
			}
			if (scores != nil || judge != nil) && (math.IsNaN(row.Score) || math.IsInf(row.Score, 0)) {
				return fmt.Errorf("%s: batch %d, row %d (id %q, sample %d): judge score %v is not a finite number", r.Name(), batch, i, row.ID, row.SampleIndex, row.Score)
			}
			rows = append(rows, row)
		}
		if b.policy, _, err = scoreCompletions(ctx, lm.model, budget, rec, r.Name(), batch); err != nil {
			return err
		}
		for i := range c.Rows {
			var r float64
			if !cfg.lengthNorm {
				r = ref[i]
			}
			b.reward[i] = dpo.ImplicitReward(cfg.beta, b.policy[i], r, len(c.Completion.Row(i)), cfg.lengthNorm)
			rows[b.first+i].Reward = b.reward[i]
		}
		rec.Retain()
		batches = append(batches, b)
		prog.update(int64(len(rows)))
	}
	prog.done()
	if err := r.Err(); err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("%s: %w", r.Name(), errNoRows)
	}
	if judge != nil {
		if err := judge.Unused(arrowio.InputsName(cfg.inputs)); err != nil {
			return err
		}
	}
	ranks, err := dpo.Rank(rows)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name(), err)
	}

	var sink scoredSink
	if cfg.format == "jsonl" {
		sink = &jsonlSink{w: arrowio.NewLineWriter(o), schema: schema}
	} else {
		w, err := arrowio.NewWriter(o, schema, arrowio.WriterOptions{Mem: mem, File: arrowio.WantsIPCFile(o)})
		if err != nil {
			return err
		}
		sink = w
	}
	for _, b := range batches {
		n := int(b.rec.NumRows())
		rk := array.NewInt32Builder(mem)
		rk.AppendValues(ranks[b.first:b.first+n], nil)
		cols := []arrow.Array{float64Array(mem, b.policy), float64Array(mem, b.reward), rk.NewArray()}
		rk.Release()
		if judge != nil {
			cols = append(cols, float64Array(mem, b.sco))
		}
		out, err := arrowio.AppendColumns(schema, b.rec, cols...)
		for _, c := range cols {
			c.Release()
		}
		if err != nil {
			return err
		}
		err = sink.Write(out)
		out.Release()
		if err != nil {
			return err
		}
	}
	if err := sink.Close(); err != nil {
		return err
	}
	sum := dpo.SummarizeRanking(rows, ranks, cfg.beta, cfg.lengthNorm, hasScore || judge != nil)
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
