package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
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

// The files of a run directory (the Makefile's noise rules write them).
const (
	fileRun     = "run.json"   // {"loss": NAME, "flip_rate": R, ...}: what the run is
	fileSummary = "after.json" // dpo-score --summary on the clean held-out pairs
	fileGreedy  = "gen.jsonl"  // greedy generation on the held-out prompts, judged
)

// Result is one line of noise.jsonl.
type Result struct {
	Loss               string     `json:"loss"`
	FlipRate           float64    `json:"flip_rate"`
	RewardAccuracy     float64    `json:"reward_accuracy"`
	RewardAccuracyCI95 [2]float64 `json:"reward_accuracy_ci95"`
	GenerationAccuracy float64    `json:"generation_accuracy"`
	ChosenShift        float64    `json:"chosen_logp_shift"`
	RejectedShift      float64    `json:"rejected_logp_shift"`
	Args               string     `json:"args,omitempty"`
	Dir                string     `json:"dir"`
}

// runInfo is run.json.
type runInfo struct {
	Loss     *string  `json:"loss"`
	FlipRate *float64 `json:"flip_rate"`
	Args     string   `json:"args"`
}

// result combines what a run directory holds.
func result(dir string, info runInfo, sum runs.Summary, greedy runs.Judged) (Result, error) {
	if info.Loss == nil || *info.Loss == "" || info.FlipRate == nil {
		return Result{}, fmt.Errorf("%s: want loss and flip_rate", filepath.Join(dir, fileRun))
	}
	if *info.FlipRate < 0 || *info.FlipRate > 1 {
		return Result{}, fmt.Errorf("%s: flip_rate %v, want a fraction", filepath.Join(dir, fileRun), *info.FlipRate)
	}
	if greedy.N == 0 {
		return Result{}, fmt.Errorf("%s: no generations", filepath.Join(dir, fileGreedy))
	}
	return Result{Loss: *info.Loss, FlipRate: *info.FlipRate, RewardAccuracy: sum.Accuracy, RewardAccuracyCI95: sum.AccuracyCI95,
		GenerationAccuracy: greedy.Accuracy(), ChosenShift: sum.ChosenShift(), RejectedShift: sum.RejectedShift(),
		Args: info.Args, Dir: dir}, nil
}

func readResult(dir string) (Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileRun))
	if err != nil {
		return Result{}, err
	}
	var info runInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return Result{}, fmt.Errorf("%s: %w", filepath.Join(dir, fileRun), err)
	}
	sum, err := runs.ReadSummaryFile(filepath.Join(dir, fileSummary))
	if err != nil {
		return Result{}, err
	}
	greedy, err := runs.ReadJudgedFile(filepath.Join(dir, fileGreedy))
	if err != nil {
		return Result{}, err
	}
	return result(dir, info, sum, greedy)
}

// sortResults orders by loss (in first-seen order, as given on the command
// line) and then by flip rate.
func sortResults(rs []Result) {
	order := map[string]int{}
	for _, r := range rs {
		if _, ok := order[r.Loss]; !ok {
			order[r.Loss] = len(order)
		}
	}
	slices.SortStableFunc(rs, func(a, b Result) int {
		return cmp.Or(cmp.Compare(order[a.Loss], order[b.Loss]), cmp.Compare(a.FlipRate, b.FlipRate))
	})
}

// writeTable prints a Markdown table: a row per loss, reward accuracy and
// greedy generation accuracy per flip rate.
func writeTable(w io.Writer, rs []Result) error {
	var rates []float64
	var losses []string
	cell := map[string]map[float64]Result{}
	for _, r := range rs {
		if !slices.Contains(rates, r.FlipRate) {
			rates = append(rates, r.FlipRate)
		}
		if cell[r.Loss] == nil {
			losses = append(losses, r.Loss)
			cell[r.Loss] = map[float64]Result{}
		}
		cell[r.Loss][r.FlipRate] = r
	}
	slices.Sort(rates)
	head, rule := "| loss |", "|---|"
	for _, f := range rates {
		head += fmt.Sprintf(" reward acc. %g%% flipped |", f*100)
		rule += "---|"
	}
	for _, f := range rates {
		head += fmt.Sprintf(" greedy exact %g%% |", f*100)
		rule += "---|"
	}
	if _, err := fmt.Fprintf(w, "%s\n%s\n", head, rule); err != nil {
		return err
	}
	for _, l := range losses {
		row := "| " + l + " |"
		for _, f := range rates {
			if r, ok := cell[l][f]; ok {
				row += " " + strconv.FormatFloat(r.RewardAccuracy, 'f', 3, 64) + " |"
			} else {
				row += " — |"
			}
		}
		for _, f := range rates {
			if r, ok := cell[l][f]; ok {
				row += " " + strconv.FormatFloat(r.GenerationAccuracy, 'f', 3, 64) + " |"
			} else {
				row += " — |"
			}
		}
		if _, err := fmt.Fprintln(w, row); err != nil {
			return err
		}
	}
	return nil
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
}

// plotNoise draws y(result) against the flip rate, a line per loss.
func plotNoise(rs []Result, title, ylabel string, y func(Result) float64, path string) error {
	return runs.SavePlot(path, 7, 5, func() (*plot.Plot, error) { return noisePlot(rs, title, ylabel, y) })
}

func noisePlot(rs []Result, title, ylabel string, y func(Result) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "fraction of training pairs flipped"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = true
	var losses []string
	for _, r := range rs {
		if !slices.Contains(losses, r.Loss) {
			losses = append(losses, r.Loss)
		}
	}
	for i, l := range losses {
		var xy plotter.XYs
		for _, r := range rs {
			if r.Loss == l {
				xy = append(xy, plotter.XY{X: r.FlipRate, Y: y(r)})
			}
		}
		line, dots, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		c := palette[i%len(palette)]
		line.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.5)}
		dots.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(line, dots)
		p.Legend.Add(l, line, dots)
	}
	p.X.Min, p.X.Max = -0.02, 0.5
	return p, nil
}

// config is the command line.
type config struct {
	out, png, genPNG, title string
	dirs                    []string
}

func run(cfg config, stdout, stderr io.Writer) error {
	var rs []Result
	for _, d := range cfg.dirs {
		r, err := readResult(d)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	sortResults(rs)
	if err := writeTable(stderr, rs); err != nil {
		return err
	}
	if cfg.png != "" {
		if err := plotNoise(rs, cfg.title, "held-out reward accuracy (clean labels)", func(r Result) float64 { return r.RewardAccuracy }, cfg.png); err != nil {
			return err
		}
	}
	if cfg.genPNG != "" {
		if err := plotNoise(rs, cfg.title, "greedy generation exact rate (held-out prompts)", func(r Result) float64 { return r.GenerationAccuracy }, cfg.genPNG); err != nil {
			return err
		}
	}
	return runs.WriteJSONL(cfg.out, stdout, rs)
}
