package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/dpo-go/dpo/examples/sort/internal/runs"
)

// The files of a run directory (the Makefile's frontier rules write them).
const (
	fileSummary = "after.json"        // dpo-score --summary on the held-out pairs
	fileSamples = "samples.jsonl"     // the held-out samples (T 1), judged
	fileRatios  = "samples-ref.arrow" // the same samples with ref_logp from the reference
	fileGreedy  = "gen.jsonl"         // greedy generation on the held-out prompts, judged
	filePolicy  = "policy/dpo.json"   // dpo-train's record of the run (its loss)
)

// Point is one line of frontier.jsonl: a policy's place on the reward–KL
// plane. Beta is nil for the reference itself.
type Point struct {
	Label string   `json:"label"`
	Beta  *float64 `json:"beta"`
	// Loss is the objective dpo-train recorded (policy/dpo.json), if any.
	Loss   string  `json:"loss,omitempty"`
	KL     float64 `json:"kl"`
	KLErr  float64 `json:"kl_stderr"`
	Reward float64 `json:"reward"`
	// SamplesExact is the fraction of the samples the judge scores 1.
	SamplesExact float64 `json:"samples_exact"`
	NSamples     int     `json:"n_samples"`
	// RewardAccuracy and the log-prob shifts come from dpo-score on the
	// held-out pairs (absent for the reference, where every pair ties).
	RewardAccuracy *float64 `json:"reward_accuracy,omitempty"`
	ChosenShift    *float64 `json:"chosen_logp_shift,omitempty"`
	RejectedShift  *float64 `json:"rejected_logp_shift,omitempty"`
	// GenerationAccuracy is greedy decoding's exact rate on the held-out
	// prompts (absent when the directory has no gen.jsonl).
	GenerationAccuracy *float64 `json:"generation_accuracy,omitempty"`
	Dir                string   `json:"dir"`
}

// point builds a Point from what a run directory holds: the judged samples,
// their log-ratios against the reference, and optionally dpo-score's
// summary (nil for the reference) and the judged greedy generations.
func point(dir string, samples runs.Judged, ratios []float64, sum *runs.Summary, greedy *runs.Judged) (Point, error) {
	if samples.N != len(ratios) {
		return Point{}, fmt.Errorf("%s: %d judged samples but %d log-ratios: not the same samples", dir, samples.N, len(ratios))
	}
	kl, err := runs.EstimateKL(ratios)
	if err != nil {
		return Point{}, fmt.Errorf("%s: %w", dir, err)
	}
	p := Point{Label: "reference", KL: kl.Mean, KLErr: kl.StdErr, Reward: samples.MeanScore(),
		SamplesExact: samples.Accuracy(), NSamples: kl.N, Dir: dir}
	if sum != nil {
		b, acc, c, r := sum.Beta, sum.Accuracy, sum.ChosenShift(), sum.RejectedShift()
		p.Beta, p.RewardAccuracy, p.ChosenShift, p.RejectedShift = &b, &acc, &c, &r
		p.Label = "β " + strconv.FormatFloat(b, 'g', -1, 64)
	}
	if greedy != nil {
		g := greedy.Accuracy()
		p.GenerationAccuracy = &g
	}
	return p, nil
}

// readPoint reads a run directory, its samples from the subdirectory sub
// ("" for dir itself); ref says it is the reference's (no dpo-score
// summary).
func readPoint(dir, sub string, ref bool) (Point, error) {
	samples, err := runs.ReadJudgedFile(filepath.Join(dir, sub, fileSamples))
	if err != nil {
		return Point{}, err
	}
	ratios, err := runs.LogRatios(filepath.Join(dir, sub, fileRatios))
	if err != nil {
		return Point{}, err
	}
	var sum *runs.Summary
	if !ref {
		s, err := runs.ReadSummaryFile(filepath.Join(dir, fileSummary))
		if err != nil {
			return Point{}, err
		}
		sum = &s
	}
	var greedy *runs.Judged
	if g, err := runs.ReadJudgedFile(filepath.Join(dir, fileGreedy)); err == nil {
		greedy = &g
	} else if !os.IsNotExist(err) {
		return Point{}, err
	}
	p, err := point(dir, samples, ratios, sum, greedy)
	if err != nil {
		return Point{}, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, filePolicy)); err == nil {
		var meta struct {
			Loss string `json:"loss"`
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			return Point{}, fmt.Errorf("%s: %w", filepath.Join(dir, filePolicy), err)
		}
		p.Loss = meta.Loss
	} else if !os.IsNotExist(err) {
		return Point{}, err
	}
	return p, nil
}

// sortPoints puts the reference first, then the policies by decreasing β
// (increasing distance from the reference, as the frontier is traced).
func sortPoints(ps []Point) {
	slices.SortStableFunc(ps, func(a, b Point) int {
		switch {
		case a.Beta == nil && b.Beta == nil:
			return 0
		case a.Beta == nil:
			return -1
		case b.Beta == nil:
			return 1
		}
		if *a.Beta > *b.Beta {
			return -1
		}
		if *a.Beta < *b.Beta {
			return 1
		}
		return 0
	})
}

// writeTable prints the points as a Markdown table (for the log and the docs).
func writeTable(w io.Writer, ps []Point) error {
	opt := func(v *float64) string {
		if v == nil {
			return "—"
		}
		return strconv.FormatFloat(*v, 'f', 3, 64)
	}
	if _, err := fmt.Fprintln(w, "| β | KL(π‖π_ref) (± s.e.) | judge reward | samples exact | reward acc. | greedy exact | Δ log π chosen | Δ log π rejected |\n|---|---|---|---|---|---|---|---|"); err != nil {
		return err
	}
	for _, p := range ps {
		b := "ref"
		if p.Beta != nil {
			b = strconv.FormatFloat(*p.Beta, 'g', -1, 64)
		}
		if _, err := fmt.Fprintf(w, "| %s | %.3f ± %.3f | %.3f | %.3f | %s | %s | %s | %s |\n", b, p.KL, p.KLErr, p.Reward,
			p.SamplesExact, opt(p.RewardAccuracy), opt(p.GenerationAccuracy), opt(p.ChosenShift), opt(p.RejectedShift)); err != nil {
			return err
		}
	}
	return nil
}

// plotFrontier draws the judge's mean reward against the KL estimate, a
// point per policy labelled by β, joined in order of β.
func plotFrontier(ps []Point, title, path string) error {
	return runs.SavePlot(path, 8, 5.5, func() (*plot.Plot, error) { return frontierPlot(ps, title) })
}

func frontierPlot(ps []Point, title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "KL(π || π_ref), nats per completion (Monte-Carlo, held-out samples)"
	p.Y.Label.Text = "judge's mean reward (held-out samples, T 1)"
	p.Add(plotter.NewGrid())
	xy := make(plotter.XYs, len(ps))
	labels := make([]string, len(ps))
	for i, pt := range ps {
		xy[i] = plotter.XY{X: pt.KL, Y: pt.Reward}
		labels[i] = pt.Label
	}
	line, err := plotter.NewLine(xy)
	if err != nil {
		return nil, err
	}
	line.LineStyle = draw.LineStyle{Color: color.RGBA{R: 150, G: 150, B: 150, A: 255}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
	dots, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	dots.GlyphStyle = draw.GlyphStyle{Color: color.RGBA{R: 31, G: 119, B: 180, A: 255}, Radius: vg.Points(4), Shape: draw.CircleGlyph{}}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xy, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].XAlign = draw.XLeft
		lab.TextStyle[i].YAlign = draw.YBottom
	}
	lab.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(3)}
	p.Add(line, dots, lab)
	// Head room for the labels.
	xmax, ymin, ymax := 0.0, math.Inf(1), math.Inf(-1)
	for _, pt := range xy {
		xmax, ymin, ymax = max(xmax, pt.X), min(ymin, pt.Y), max(ymax, pt.Y)
	}
	p.X.Min = min(0, p.X.Min)
	p.X.Max = xmax*1.15 + 0.05
	pad := max((ymax-ymin)*0.1, 0.01)
	p.Y.Min, p.Y.Max = ymin-pad, ymax+2*pad
	return p, nil
}

// config is the command line.
type config struct {
	ref, samples, out, png, title string
	dirs                          []string
}

// run reads the directories and writes the JSON Lines, the plot and the
// table.
func run(cfg config, stdout, stderr io.Writer) error {
	var ps []Point
	if cfg.ref != "" {
		p, err := readPoint(cfg.ref, cfg.samples, true)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	for _, d := range cfg.dirs {
		p, err := readPoint(d, cfg.samples, false)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	sortPoints(ps)
	if err := writeTable(stderr, ps); err != nil {
		return err
	}
	if cfg.png != "" {
		if err := plotFrontier(ps, cfg.title, cfg.png); err != nil {
			return err
		}
	}
	return runs.WriteJSONL(cfg.out, stdout, ps)
}
