// Package runs reads what the sort demo's sweeps (make frontier, make noise)
// leave in a run directory: the judge's verdicts on sampled or greedy
// completions (JSON Lines with a numeric "score", as examples/sort/judge
// writes them), dpo-score's --summary JSON, and a completions stream that
// dpo-reflogp has scored with the reference (logp from dpo-sample, ref_logp
// from dpo-reflogp), whose per-sample log-ratios give a Monte-Carlo estimate
// of KL(π‖π_ref). It also writes what the sweeps' aggregators share: JSON
// Lines (WriteJSONL) and plots (SavePlot).
package runs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// Judged summarises judged completions: how many, how many exactly right
// (score 1), and the mean score.
type Judged struct {
	N     int
	Exact int
	Sum   float64
}

// Accuracy is the fraction exactly right (0 with no rows).
func (j Judged) Accuracy() float64 {
	if j.N == 0 {
		return 0
	}
	return float64(j.Exact) / float64(j.N)
}

// MeanScore is the mean judge score (0 with no rows).
func (j Judged) MeanScore() float64 {
	if j.N == 0 {
		return 0
	}
	return j.Sum / float64(j.N)
}

// ReadJudged summarises the judged JSON Lines of r; name names it in errors.
func ReadJudged(r io.Reader, name string) (Judged, error) {
	var j Judged
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var row struct {
			Score *float64 `json:"score"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return j, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		if row.Score == nil || math.IsNaN(*row.Score) {
			return j, fmt.Errorf("%s line %d: no numeric score", name, line)
		}
		j.N++
		j.Sum += *row.Score
		if *row.Score == 1 {
			j.Exact++
		}
	}
	if err := sc.Err(); err != nil {
		return j, fmt.Errorf("reading %s: %w", name, err)
	}
	return j, nil
}

// ReadJudgedFile is ReadJudged on the file path.
func ReadJudgedFile(path string) (Judged, error) {
	f, err := os.Open(path)
	if err != nil {
		return Judged{}, err
	}
	defer f.Close()
	return ReadJudged(f, path)
}

// Summary is the part of dpo-score's --summary JSON the sweeps use.
type Summary struct {
	Pairs          int64      `json:"pairs"`
	Beta           float64    `json:"beta"`
	Accuracy       float64    `json:"accuracy"`
	AccuracyCI95   [2]float64 `json:"accuracy_ci95"`
	RewardChosen   float64    `json:"mean_reward_chosen"`
	RewardRejected float64    `json:"mean_reward_rejected"`
	Margin         float64    `json:"mean_margin"`
}

// ChosenShift is the mean change of the chosen completions' summed
// log-probability from the reference to the policy (reward / β).
func (s Summary) ChosenShift() float64 { return s.RewardChosen / s.Beta }

// RejectedShift is the same for the rejected completions.
func (s Summary) RejectedShift() float64 { return s.RewardRejected / s.Beta }

// ReadSummaryFile reads dpo-score's --summary JSON at path.
func ReadSummaryFile(path string) (Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Summary{}, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return Summary{}, fmt.Errorf("%s: %w", path, err)
	}
	if s.Pairs == 0 {
		return Summary{}, fmt.Errorf("%s: no pairs scored", path)
	}
	if !(s.Beta > 0) {
		return Summary{}, fmt.Errorf("%s: beta %v, want > 0", path, s.Beta)
	}
	return s, nil
}

// KL is a Monte-Carlo estimate of KL(π‖π_ref) from samples of π: the mean of
// the sequence log-ratios log π(y|x) − log π_ref(y|x), with its standard
// error.
type KL struct {
	N      int
	Mean   float64
	StdErr float64
}

// EstimateKL computes the estimate from the per-sample log-ratios.
func EstimateKL(ratios []float64) (KL, error) {
	if len(ratios) == 0 {
		return KL{}, errors.New("no samples")
	}
	var sum float64
	for _, r := range ratios {
		sum += r
	}
	k := KL{N: len(ratios), Mean: sum / float64(len(ratios))}
	if len(ratios) > 1 {
		var ss float64
		for _, r := range ratios {
			ss += (r - k.Mean) * (r - k.Mean)
		}
		k.StdErr = math.Sqrt(ss / float64(len(ratios)-1) / float64(len(ratios)))
	}
	return k, nil
}

// LogRatios reads a completions stream scored by dpo-reflogp (columns logp
// and ref_logp) at path and returns logp − ref_logp per row, in order.
func LogRatios(path string) ([]float64, error) {
	r, err := arrowio.Open(path, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer r.Release()
	var out []float64
	for r.Next() {
		rec := r.Record()
		logp, err := arrowio.Float64Column(rec, arrowio.ColLogp)
		if err != nil {
			return nil, fmt.Errorf("%s batch %d: %w", path, r.Batch(), err)
		}
		ref, err := arrowio.Float64Column(rec, arrowio.ColRefLogp)
		if err != nil {
			return nil, fmt.Errorf("%s batch %d: %w (run dpo-reflogp on the samples first)", path, r.Batch(), err)
		}
		for i := range logp {
			d := logp[i] - ref[i]
			if math.IsNaN(d) || math.IsInf(d, 0) {
				return nil, fmt.Errorf("%s row %d: logp %v, ref_logp %v", path, len(out), logp[i], ref[i])
			}
			out = append(out, d)
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// WriteJSONL writes one JSON object per item to path, or to stdout for ""
// or "-".
func WriteJSONL[T any](path string, stdout io.Writer, items []T) error {
	write := func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		return nil
	}
	if path == "" || path == "-" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// SavePlot draws with draw and saves the plot to path (w × h inches);
// gonum/plot's panics on degenerate input become errors naming path.
func SavePlot(path string, w, h vg.Length, draw func() (*plot.Plot, error)) (err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("drawing %s: %v", path, e)
		}
	}()
	p, err := draw()
	if err != nil {
		return err
	}
	return p.Save(w*vg.Inch, h*vg.Inch, path)
}
