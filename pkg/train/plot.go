package train

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// SmoothingWeight is the weight of the exponential moving average drawn
// over each training curve in plot.png: TensorBoard's smoothing, with its
// default 0.6 and its debiasing of the first points (smoothed_i =
// last_i / (1 - w^i), last_i = w·last_{i-1} + (1-w)·x_i).
const SmoothingWeight = 0.6

// plotInfo is what the plot's title says about the run.
type plotInfo struct {
	// model is where the initial weights come from: --model as given (a
	// directory such as examples/out/sft), or --init-config's file when
	// scratch is set; "" when unknown.
	model   string
	scratch bool
	arch    string // architecture and size, e.g. "Qwen3, 596M parameters" ("" unknown)
	terms   []dpo.Term
	beta    float64
	// rewards is false for an sft-only objective, which has no implicit
	// rewards: their panels are left out.
	rewards bool
}

// plotInfo describes the run for its plot.
func (r *runner) plotInfo() plotInfo {
	info := plotInfo{model: r.c.Model, terms: r.obj.Terms, beta: r.c.Beta}
	if info.model == "" && r.c.InitConfig != "" {
		info.model, info.scratch = r.c.InitConfig, true
	}
	if info.model != "" {
		info.model = filepath.Clean(info.model)
	}
	if r.cfg != nil {
		info.arch = archLabel(r.cfg.Arch, numParams(model.ParamSpecs(r.cfg)))
	}
	for _, t := range r.obj.Terms {
		info.rewards = info.rewards || t.Name != dpo.SFT
	}
	return info
}

// archLabel names an architecture by its family ("Qwen3" for
// Qwen3ForCausalLM) and its size.
func archLabel(a model.Arch, params int) string {
	name := strings.TrimSuffix(strings.TrimSuffix(string(a), "ForCausalLM"), "LMHeadModel")
	if params <= 0 {
		return name
	}
	return name + ", " + humanCount(params) + " parameters"
}

// humanCount writes n with three significant digits and a k, M or B
// suffix: 596M, 1.54B, 12.3k.
func humanCount(n int) string {
	x := float64(n)
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if x >= u.div {
			return strconv.FormatFloat(x/u.div, 'g', 3, 64) + u.suffix
		}
	}
	return strconv.Itoa(n)
}

// writePlot writes plot.png for the metrics logged so far.
func (r *runner) writePlot() error {
	b, err := renderPlot(buildPlot(r.history, r.plotInfo()), plotWidth, plotRowHeight)
	if err != nil {
		return err
	}
	return safetensors.WriteAtomic(filepath.Join(r.c.Out, PlotFile), func(w io.Writer) error { _, err := w.Write(b); return err })
}

// plotSeries is one curve: its raw points and their smoothing (train), or
// points drawn as markers (eval).
type plotSeries struct {
	name        string
	color       color.RGBA
	raw, smooth plotter.XYs
}

// plotPanel is one quantity against the step.
type plotPanel struct {
	key, title, ylabel string
	train, eval        []plotSeries
	smoothed           bool // the train curves are smoothed (not the learning rate: it is exact)
}

// plotModel is what plot.png shows: a title and the panels that have data.
type plotModel struct {
	title  string
	panels []plotPanel
}

// Tableau colours (matplotlib's default cycle).
var (
	colBlue   = color.RGBA{31, 119, 180, 255}
	colOrange = color.RGBA{255, 127, 14, 255}
	colGreen  = color.RGBA{44, 160, 44, 255}
	colRed    = color.RGBA{214, 39, 40, 255}
	colPurple = color.RGBA{148, 103, 189, 255}
	colBrown  = color.RGBA{140, 86, 75, 255}
	colGray   = color.RGBA{90, 90, 90, 255}
	colEval   = color.RGBA{20, 20, 20, 255}
)

// panelSpecs lists the panels in order: each metric key with its legend
// name and colour; rewards marks the panels an sft-only run lacks.
var panelSpecs = []struct {
	key, title, ylabel string
	rewards            bool
	series             []struct {
		key, name string
		color     color.RGBA
	}
}{
	{"loss", "Loss", "loss", false, []struct {
		key, name string
		color     color.RGBA
	}{{"loss", "train", colBlue}}},
	{"margin", "Reward margin", "chosen − rejected reward", true, []struct {
		key, name string
		color     color.RGBA
	}{{"rewards/margins", "train", colPurple}}},
	{"accuracy", "Reward accuracy", "fraction chosen > rejected", true, []struct {
		key, name string
		color     color.RGBA
	}{{"rewards/accuracies", "train", colOrange}}},
	{"rewards", "Rewards", "β · log π/π_ref", true, []struct {
		key, name string
		color     color.RGBA
	}{{"rewards/chosen", "chosen", colGreen}, {"rewards/rejected", "rejected", colRed}}},
	{"lr", "Learning rate", "learning rate", false, []struct {
		key, name string
		color     color.RGBA
	}{{"learning_rate", "train", colGray}}},
	{"grad_norm", "Gradient norm", "global norm (before clipping)", false, []struct {
		key, name string
		color     color.RGBA
	}{{"grad_norm", "train", colBrown}}},
}

// buildPlot turns the metric records (metrics.jsonl's lines) into the
// plot's model: a panel per quantity that has a finite value, the training
// curves raw and smoothed, the eval_ metrics of the same key as markers.
func buildPlot(history []map[string]any, info plotInfo) plotModel {
	m := plotModel{title: plotTitle(info)}
	for _, spec := range panelSpecs {
		if spec.rewards && !info.rewards {
			continue
		}
		p := plotPanel{key: spec.key, title: spec.title, ylabel: spec.ylabel, smoothed: spec.key != "lr"}
		for _, s := range spec.series {
			raw := points(history, s.key)
			if len(raw) > 0 {
				ps := plotSeries{name: s.name, color: s.color, raw: raw}
				if p.smoothed {
					ps.smooth = smooth(raw, SmoothingWeight)
				}
				p.train = append(p.train, ps)
			}
			if ev := points(history, "eval_"+s.key); len(ev) > 0 {
				name := "eval set"
				if len(spec.series) > 1 {
					name = "eval set, " + s.name
				}
				p.eval = append(p.eval, plotSeries{name: name, color: s.color, raw: ev})
			}
		}
		if len(p.train)+len(p.eval) > 0 {
			m.panels = append(m.panels, p)
		}
	}
	return m
}

// plotTitle says what was trained, how and from what, plainly:
// "DPO (sigmoid, β 0.1) from examples/out/sft (Qwen3, 596M parameters)",
// "DPO (sigmoid + 0.2 × sft, β 0.1) ...", "SFT from ...".
func plotTitle(info plotInfo) string {
	var b strings.Builder
	if !info.rewards {
		b.WriteString("SFT")
	} else {
		b.WriteString("DPO (")
		for i, t := range info.terms {
			if i > 0 {
				b.WriteString(" + ")
			}
			if t.Weight != 1 {
				b.WriteString(strconv.FormatFloat(t.Weight, 'g', -1, 64) + " × ")
			}
			b.WriteString(t.Name)
		}
		if info.beta != 0 {
			fmt.Fprintf(&b, ", β %g", info.beta)
		}
		b.WriteString(")")
	}
	switch {
	case info.scratch:
		fmt.Fprintf(&b, " from random weights (%s", info.model)
		if info.arch != "" {
			b.WriteString(": " + info.arch)
		}
		b.WriteString(")")
	case info.model != "":
		b.WriteString(" from " + info.model)
		if info.arch != "" {
			b.WriteString(" (" + info.arch + ")")
		}
	case info.arch != "":
		b.WriteString(" of " + info.arch)
	}
	return b.String()
}

// points returns the finite (step, value) points of key, in record order.
func points(history []map[string]any, key string) plotter.XYs {
	var out plotter.XYs
	for _, rec := range history {
		s, ok1 := rec["step"].(float64)
		v, ok2 := rec[key].(float64)
		if ok1 && ok2 && finite(s) && finite(v) {
			out = append(out, plotter.XY{X: s, Y: v})
		}
	}
	return out
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// smooth is TensorBoard's debiased exponential moving average with weight
// w (see SmoothingWeight); a constant series is left as it is.
func smooth(xy plotter.XYs, w float64) plotter.XYs {
	out := make(plotter.XYs, len(xy))
	constant := true
	for _, p := range xy {
		constant = constant && p.Y == xy[0].Y
	}
	last := 0.0
	for i, p := range xy {
		out[i] = p
		if constant {
			continue
		}
		last = last*w + (1-w)*p.Y
		debias := 1.0
		if w != 1 {
			debias = 1 - math.Pow(w, float64(i+1))
		}
		out[i].Y = last / debias
	}
	return out
}

// Size of plot.png in pixels: two panels a row.
const (
	plotWidth     = 1400
	plotRowHeight = 380
	plotTitleH    = 56
	plotDPI       = 96
)

// plotCols is the number of panels a row: two, or all of them when
// there are at most three (an sft-only run's loss, learning rate and grad
// norm), so that no space is left blank.
func plotCols(n int) int {
	if n <= 3 {
		return max(n, 1)
	}
	return 2
}

// px converts pixels to vg lengths at plotDPI.
func px(n float64) vg.Length { return vg.Length(n * 72 / plotDPI) }

// renderPlot draws m as a PNG of width pixels, rowHeight pixels a row of
// panels (plotCols), under a title line.
func renderPlot(m plotModel, width, rowHeight int) (_ []byte, err error) {
	defer func() { // gonum/plot panics on some degenerate input
		if e := recover(); e != nil {
			err = fmt.Errorf("drawing the plot: %v", e)
		}
	}()
	cols := plotCols(len(m.panels))
	rows := max(1, (len(m.panels)+cols-1)/cols)
	height := plotTitleH + rows*rowHeight
	img := vgimg.NewWith(vgimg.UseWH(px(float64(width)), px(float64(height))), vgimg.UseDPI(plotDPI))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	// The title, in a strip at the top.
	titleCanvas := draw.Crop(dc, 0, 0, px(float64(height-plotTitleH)), 0)
	tp := plot.New()
	tp.HideAxes()
	tp.BackgroundColor = color.Transparent
	tp.Title.Text = m.title
	tp.Title.TextStyle.Font = font.From(sansFont, 15)
	tp.Title.Padding = px(14)
	tp.Draw(titleCanvas)

	if len(m.panels) == 0 {
		var buf bytes.Buffer
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(&buf)
		return buf.Bytes(), err
	}
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
	}
	for i, p := range m.panels {
		pl, err := panelPlot(p)
		if err != nil {
			return nil, fmt.Errorf("plot panel %s: %w", p.key, err)
		}
		grid[i/cols][i%cols] = pl
	}
	body := draw.Crop(dc, 0, 0, 0, -px(plotTitleH))
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: px(36), PadY: px(22), PadLeft: px(12), PadRight: px(24), PadBottom: px(8), PadTop: px(4)}
	canvases := plot.Align(grid, tiles, body)
	for r := range grid {
		for c, pl := range grid[r] {
			if pl != nil {
				pl.Draw(canvases[r][c])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// panelPlot builds one panel: faint raw lines under smoothed ones (the
// learning rate: one exact line), eval markers, a grid, labelled axes, and
// a legend in head room above the data.
func panelPlot(p plotPanel) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.title
	pl.X.Label.Text = "step"
	pl.Y.Label.Text = p.ylabel
	pl.Title.TextStyle.Font = font.From(sansFont, 12)
	for _, ax := range []*plot.Axis{&pl.X, &pl.Y} {
		ax.Label.TextStyle.Font = font.From(sansFont, 10)
		ax.Tick.Label.Font = font.From(sansFont, 9)
	}
	pl.Legend.TextStyle.Font = font.From(sansFont, 9)
	pl.Legend.Top = true
	pl.Legend.Left = p.key == "margin" || p.key == "rewards" // rising curves leave the top left free
	if p.key == "accuracy" {
		pl.Legend.Top = false // a fraction in [0, 1], rising: the bottom right is free
	}
	pl.Legend.XOffs, pl.Legend.YOffs = -px(6), -px(4)
	if pl.Legend.Left {
		pl.Legend.XOffs = px(6)
	}
	pl.X.Min = 0
	pl.X.Tick.Marker = stepTicks{}
	grid := plotter.NewGrid()
	grid.Horizontal.Color = color.Gray{Y: 225}
	grid.Vertical.Color = color.Gray{Y: 225}
	pl.Add(grid)
	for _, s := range p.train {
		faint := s.color
		faint.A = 70
		line := s.raw
		if p.smoothed {
			raw, err := plotter.NewLine(s.raw)
			if err != nil {
				return nil, err
			}
			raw.LineStyle.Color = premultiply(faint)
			raw.LineStyle.Width = px(1)
			pl.Add(raw)
			line = s.smooth
		}
		sm, err := plotter.NewLine(line)
		if err != nil {
			return nil, err
		}
		sm.LineStyle.Color = s.color
		sm.LineStyle.Width = px(2)
		pl.Add(sm)
		name := s.name
		if len(p.train) == 1 && p.smoothed {
			name = fmt.Sprintf("train (EMA %.1f)", SmoothingWeight)
		}
		pl.Legend.Add(name, sm)
		if len(s.raw) == 1 { // a line needs two points
			dot, err := plotter.NewScatter(s.raw)
			if err != nil {
				return nil, err
			}
			dot.GlyphStyle = draw.GlyphStyle{Color: s.color, Radius: px(3), Shape: draw.CircleGlyph{}}
			pl.Add(dot)
		}
	}
	if len(p.train) == 1 && p.smoothed {
		faint := p.train[0].color
		faint.A = 70
		pl.Legend.Add("train (raw)", legendLine(premultiply(faint)))
	}
	for _, s := range p.eval {
		c := colEval
		if len(p.eval) > 1 { // a darker shade of the series' colour
			c = color.RGBA{s.color.R / 2, s.color.G / 2, s.color.B / 2, 255}
		}
		line, rings, err := evalPlotters(s.raw, c)
		if err != nil {
			return nil, err
		}
		pl.Add(line, rings)
		pl.Legend.Add(s.name, line, rings)
	}
	lo, hi := pl.Y.Min, pl.Y.Max
	if p.key == "accuracy" {
		pl.Y.Min, pl.Y.Max = math.Min(lo, 0), math.Max(hi, 1)
		return pl, nil
	}
	// Head room for the legend: a line of text per entry.
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi), 1e-12)
	}
	entries := len(p.train) + len(p.eval)
	if len(p.train) == 1 && p.smoothed {
		entries++
	}
	pl.Y.Min, pl.Y.Max = lo, hi+span*(0.06+0.075*float64(entries))
	return pl, nil
}

// evalPlotters draws eval results apart from the training curves, and so
// that their legend entry cannot be taken for a training point: hollow
// rings joined by a dashed line, in colour c.
func evalPlotters(xy plotter.XYs, c color.RGBA) (*plotter.Line, *plotter.Scatter, error) {
	line, err := plotter.NewLine(xy)
	if err != nil {
		return nil, nil, err
	}
	line.LineStyle = draw.LineStyle{Color: c, Width: px(1.2), Dashes: []vg.Length{px(5), px(3)}}
	rings, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, nil, err
	}
	rings.GlyphStyle = draw.GlyphStyle{Color: c, Radius: px(4.5), Shape: evalGlyph{}}
	return line, rings, nil
}

// evalGlyph is a ring filled with white, so that it stands out on the
// training curves it sits on.
type evalGlyph struct{}

func (evalGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	p.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
	p.Arc(pt, sty.Radius, 0, 2*math.Pi)
	p.Close()
	c.SetColor(color.White)
	c.Fill(p)
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: px(1.6)})
	c.Stroke(p)
}

// stepTicks labels the step axis with whole numbers only (gonum's default
// ticker labels steps "25.00"): major ticks every 1, 2 or 5 × 10^k steps,
// about five of them, and minor ticks between where they fall on steps.
type stepTicks struct{}

func (stepTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || !finite(lo) || !finite(hi) {
		return []plot.Tick{{Value: math.Round(lo), Label: strconv.FormatFloat(math.Round(lo), 'f', 0, 64)}}
	}
	major := 1.0
	for mag := 1.0; ; mag *= 10 {
		done := false
		for _, m := range []float64{1, 2, 5} {
			if (hi-lo)/(m*mag) <= 6 {
				major, done = m*mag, true
				break
			}
		}
		if done {
			break
		}
	}
	minor := 0.0 // a fifth of major, or a half, where that is a whole step
	if major >= 5 {
		minor = major / 5
	} else if major == 2 {
		minor = 1
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/major) * major; v <= hi; v += major {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	if minor > 0 {
		for v := math.Ceil(lo/minor) * minor; v <= hi; v += minor {
			if math.Mod(v, major) != 0 {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
}

// legendLine is a legend entry for a line of colour c.
type legendLine color.RGBA

func (l legendLine) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(draw.LineStyle{Color: color.RGBA(l), Width: px(1)}, c.Min.X, y, c.Max.X, y)
}

// premultiply returns c with its colour channels scaled by alpha, as
// color.RGBA requires.
func premultiply(c color.RGBA) color.RGBA {
	a := uint32(c.A)
	return color.RGBA{uint8(uint32(c.R) * a / 255), uint8(uint32(c.G) * a / 255), uint8(uint32(c.B) * a / 255), c.A}
}
