package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// rankConfig is dpo-score --rank's configuration (resolved flags).
type rankConfig struct {
	policy      string
	beta        float64
	lengthNorm  bool // reward β·log π/|y| (reference-free policies)
	out         string
	format      string
	summaryPath string
	scoresPath  string // --scores: the judge's JSONL
	inputs      []string
	quiet       bool
	mf          *modelFlags
}

// RankSummary is what dpo-score --rank reports.
type RankSummary struct {
	Prompts        int64   `json:"prompts"`
	Candidates     int64   `json:"candidates"`
	MeanCandidates float64 `json:"mean_candidates"`
	Beta           float64 `json:"beta"`
	ReferenceFree  bool    `json:"reference_free"`
	// The rest needs the judge's scores.
	Judged *RankJudged `json:"judged,omitempty"`
}

// RankJudged compares the ranking by implicit reward with the judge.
type RankJudged struct {
	// TopIsBest is the fraction of prompts whose rank-1 candidate has the
	// judge's best score of that prompt (a candidate tied for best counts
	// as a hit); TopIsBestRandom is the same for a uniformly random
	// candidate (the mean over prompts of #best/#candidates), the chance
	// level.
	TopIsBest       float64 `json:"top_is_best"`
	TopIsBestRandom float64 `json:"top_is_best_random"`
	// Mean judge scores: of the rank-1 candidates, of a uniformly random
	// candidate (the mean over prompts of the prompt's mean score), and of
	// the best candidate of each prompt.
	TopScore    float64 `json:"mean_score_top"`
	RandomScore float64 `json:"mean_score_random"`
	BestScore   float64 `json:"mean_score_best"`
}

// Format writes the human summary.
func (s *RankSummary) Format(w io.Writer) {
	kind := "β·(log π − log π_ref)"
	if s.ReferenceFree {
		kind = "β·log π/|y| (reference-free)"
	}
	fmt.Fprintf(w, "prompts %d, candidates %d (%.2f per prompt), β %g, reward %s\n", s.Prompts, s.Candidates, s.MeanCandidates, s.Beta, kind)
	if j := s.Judged; j != nil {
		fmt.Fprintf(w, "top-ranked candidate is the judge's best in %.3f of prompts (ties for best count as hits; a random candidate: %.3f)\n", j.TopIsBest, j.TopIsBestRandom)
		fmt.Fprintf(w, "mean judge score: top-ranked %.4f, random candidate %.4f, best candidate %.4f\n", j.TopScore, j.RandomScore, j.BestScore)
	}
}

// rankRow is what ranking needs of one row.
type rankRow struct {
	id     string
	sample int32
	reward float64
	score  float64 // the judge's, when known
}

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
func scoreRank(ctx context.Context, cfg rankConfig, stdin io.Reader, stdout, stderr io.Writer) error {
	log := stderr
	if cfg.quiet {
		log = io.Discard
	}
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
	var judge map[judgeKey]judgeScore
	if cfg.scoresPath != "" {
		if hasScore {
			return fmt.Errorf("%s already has a %s column; drop --scores or the column", r.Name(), arrowio.ColScore)
		}
		if judge, err = readJudgeScores(cfg.scoresPath); err != nil {
			return err
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
	var rows []rankRow
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
			row := rankRow{id: c.ID.Value(i), sample: c.SampleIndex[i], score: math.NaN()}
			switch {
			case scores != nil:
				row.score = scores[i]
			case judge != nil:
				k := judgeKey{row.id, int64(row.sample)}
				s, ok := judge[k]
				if !ok {
					return fmt.Errorf("%s: batch %d, row %d (id %q, sample %d): no score in %s", r.Name(), batch, i, row.id, row.sample, cfg.scoresPath)
				}
				s.used = true
				judge[k] = s
				row.score = s.score
				b.sco = append(b.sco, s.score)
			}
			if (scores != nil || judge != nil) && (math.IsNaN(row.score) || math.IsInf(row.score, 0)) {
				return fmt.Errorf("%s: batch %d, row %d (id %q, sample %d): judge score %v is not a finite number", r.Name(), batch, i, row.id, row.sample, row.score)
			}
			rows = append(rows, row)
		}
		if b.policy, _, err = scoreCompletions(ctx, lm.model, budget, rec, r.Name(), batch); err != nil {
			return err
		}
		for i := range c.Rows {
			if cfg.lengthNorm {
				b.reward[i] = cfg.beta * b.policy[i] / float64(len(c.Completion.Row(i)))
			} else {
				b.reward[i] = cfg.beta * (b.policy[i] - ref[i])
			}
			rows[b.first+i].reward = b.reward[i]
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
	if err := unusedJudgeScores(judge, cfg.scoresPath, cfg.inputs); err != nil {
		return err
	}
	ranks, err := rankRows(rows)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name(), err)
	}

	var sink scoredSink
	if cfg.format == "jsonl" {
		sink = &jsonlSink{w: arrowio.NewLineWriter(o), schema: schema}
	} else {
		w, err := arrowio.NewWriter(o, schema, arrowio.WriterOptions{Mem: mem})
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
	sum := rankSummary(rows, ranks, cfg.beta, cfg.lengthNorm, hasScore || judge != nil)
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

// rankRows returns each row's rank within its id: 1 for the highest reward,
// equal rewards ordered by sample_index. Two rows with the same id and
// sample_index are an error.
func rankRows(rows []rankRow) ([]int32, error) {
	groups := map[string][]int{}
	var order []string
	for i, r := range rows {
		if _, ok := groups[r.id]; !ok {
			order = append(order, r.id)
		}
		groups[r.id] = append(groups[r.id], i)
	}
	ranks := make([]int32, len(rows))
	for _, id := range order {
		g := groups[id]
		slices.SortStableFunc(g, func(a, b int) int {
			ra, rb := rows[a], rows[b]
			switch {
			case ra.reward > rb.reward:
				return -1
			case ra.reward < rb.reward:
				return 1
			}
			return int(ra.sample) - int(rb.sample)
		})
		for k, i := range g {
			if k > 0 && rows[g[k-1]].sample == rows[i].sample {
				return nil, fmt.Errorf("id %q has sample_index %d twice", id, rows[i].sample)
			}
			ranks[i] = int32(k + 1)
		}
	}
	return ranks, nil
}

// rankSummary computes the summary; judged says whether rows carry scores.
func rankSummary(rows []rankRow, ranks []int32, beta float64, refFree, judged bool) *RankSummary {
	type agg struct {
		n, nBest      int
		top, max, sum float64
	}
	groups := map[string]*agg{}
	var order []string
	for i, r := range rows {
		g := groups[r.id]
		if g == nil {
			g = &agg{max: math.Inf(-1)}
			groups[r.id] = g
			order = append(order, r.id)
		}
		g.n++
		if judged {
			g.sum += r.score
			g.max = max(g.max, r.score)
			if ranks[i] == 1 {
				g.top = r.score
			}
		}
	}
	s := &RankSummary{Prompts: int64(len(order)), Candidates: int64(len(rows)), Beta: beta, ReferenceFree: refFree}
	s.MeanCandidates = float64(len(rows)) / float64(len(order))
	if !judged {
		return s
	}
	for _, r := range rows {
		if g := groups[r.id]; r.score == g.max {
			g.nBest++
		}
	}
	j := &RankJudged{}
	for _, id := range order {
		g := groups[id]
		if g.top == g.max {
			j.TopIsBest++
		}
		j.TopIsBestRandom += float64(g.nBest) / float64(g.n)
		j.TopScore += g.top
		j.RandomScore += g.sum / float64(g.n)
		j.BestScore += g.max
	}
	n := float64(len(order))
	j.TopIsBest /= n
	j.TopIsBestRandom /= n
	j.TopScore /= n
	j.RandomScore /= n
	j.BestScore /= n
	s.Judged = j
	return s
}

// judgeKey identifies a completion: its prompt id and sample index.
type judgeKey struct {
	id     string
	sample int64
}

// judgeScore is a judge's score, the line it is on, and whether a
// completion of the stream took it.
type judgeScore struct {
	score float64
	line  int
	used  bool
}

// unusedJudgeScores refuses judge scores for completions the stream does
// not have (another run's samples, a wrong sample_index), naming the
// first such line.
func unusedJudgeScores(judge map[judgeKey]judgeScore, path string, inputs []string) error {
	var first *judgeKey
	for k, s := range judge {
		if !s.used && (first == nil || s.line < judge[*first].line) {
			first = &k
		}
	}
	if first == nil {
		return nil
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = arrowio.InputName(in)
	}
	if len(names) == 0 {
		names = []string{"stdin"}
	}
	return fmt.Errorf("%s:%d: id %q sample %d: no such completion in %s (the judge scored other samples)", path, judge[*first].line, first.id, first.sample, strings.Join(names, ", "))
}

// readJudgeScores reads a judge's JSONL output (docs/judges.md): id,
// sample_index and score on every line; an (id, sample_index) given twice
// is an error naming both lines.
func readJudgeScores(path string) (map[judgeKey]judgeScore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--scores: %w", err)
	}
	defer f.Close()
	m := map[judgeKey]judgeScore{}
	br := bufio.NewReaderSize(f, 1<<16)
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var row struct {
				ID          json.RawMessage `json:"id"`
				SampleIndex *int64          `json:"sample_index"`
				Score       *float64        `json:"score"`
			}
			if err := json.Unmarshal(t, &row); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n, err)
			}
			id, ok := jsonID(row.ID)
			switch {
			case !ok:
				return nil, fmt.Errorf("%s:%d: field id: want a string or an integer", path, n)
			case row.SampleIndex == nil:
				return nil, fmt.Errorf("%s:%d: field sample_index: missing", path, n)
			case row.Score == nil:
				return nil, fmt.Errorf("%s:%d: field score: missing or null", path, n)
			}
			k := judgeKey{id, *row.SampleIndex}
			if prev, dup := m[k]; dup {
				return nil, fmt.Errorf("%s:%d: id %q sample %d scored twice (also on line %d)", path, n, id, k.sample, prev.line)
			}
			m[k] = judgeScore{score: *row.Score, line: n}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("reading %s: %w", path, rerr)
		}
	}
	return m, nil
}

// jsonID reads an id that is a JSON string or integer.
func jsonID(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return strconv.FormatInt(i, 10), true
		}
	}
	return "", false
}
