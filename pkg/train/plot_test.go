package train

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"gonum.org/v1/plot/plotter"

	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/model"
)

// fakeHistory is a DPO-like run of n steps logged as metrics.jsonl's
// records, with eval metrics every evalEvery steps (0: none).
func fakeHistory(n, evalEvery int, withRewards bool) []map[string]any {
	rng := rand.New(rand.NewPCG(1, 2))
	var h []map[string]any
	for s := 1; s <= n; s++ {
		f := float64(s) / float64(n)
		rec := map[string]any{
			"step":          float64(s),
			"loss":          0.69*math.Exp(-2*f) + 0.08*rng.NormFloat64(),
			"learning_rate": 1e-3 * math.Min(float64(s)/10, 1) * (1 - f),
			"grad_norm":     2*math.Exp(-f) + 0.3*rng.Float64(),
		}
		if withRewards {
			rec["rewards/chosen"] = 0.8*f + 0.2*rng.NormFloat64()
			rec["rewards/rejected"] = -1.5*f + 0.2*rng.NormFloat64()
			rec["rewards/margins"] = rec["rewards/chosen"].(float64) - rec["rewards/rejected"].(float64)
			rec["rewards/accuracies"] = math.Min(1, 0.5+0.5*f+0.15*rng.NormFloat64())
		}
		if evalEvery > 0 && (s%evalEvery == 0 || s == n) {
			rec["eval_loss"] = 0.69*math.Exp(-1.8*f) + 0.02
			if withRewards {
				rec["eval_rewards/margins"] = 2 * f
				rec["eval_rewards/accuracies"] = 0.5 + 0.4*f
				rec["eval_rewards/chosen"] = 0.7 * f
				rec["eval_rewards/rejected"] = -1.3 * f
			}
		}
		h = append(h, rec)
	}
	return h
}

// TestBuildPlot: one panel per quantity that exists (none of the reward
// panels for sft-only runs), eval points as markers, the title naming the
// model, the loss and β.
func TestBuildPlot(t *testing.T) {
	dpoInfo := plotInfo{model: "examples/out/sft", arch: "Qwen3, 596M parameters", terms: []dpo.Term{{Name: "sigmoid", Weight: 1}}, beta: 0.1, rewards: true}
	sftInfo := plotInfo{model: "tiny", terms: []dpo.Term{{Name: dpo.SFT, Weight: 1}}, beta: 0.1}
	for _, tt := range []struct {
		name     string
		history  []map[string]any
		info     plotInfo
		panels   []string
		evals    map[string]int
		title    string
		noSmooth bool
	}{
		{"dpo with eval", fakeHistory(120, 20, true), dpoInfo,
			[]string{"loss", "margin", "accuracy", "rewards", "lr", "grad_norm"},
			map[string]int{"loss": 6, "margin": 6, "accuracy": 6, "rewards": 12}, "DPO (sigmoid, β 0.1) from examples/out/sft (Qwen3, 596M parameters)", false},
		{"dpo without eval", fakeHistory(30, 0, true), dpoInfo,
			[]string{"loss", "margin", "accuracy", "rewards", "lr", "grad_norm"}, map[string]int{}, "", false},
		{"sft only", fakeHistory(30, 10, true), sftInfo, // rewards logged, not meaningful
			[]string{"loss", "lr", "grad_norm"}, map[string]int{"loss": 3}, "SFT from tiny", false},
		{"one step", fakeHistory(1, 1, true), dpoInfo,
			[]string{"loss", "margin", "accuracy", "rewards", "lr", "grad_norm"},
			map[string]int{"loss": 1, "margin": 1, "accuracy": 1, "rewards": 2}, "", false},
		{"empty", nil, dpoInfo, nil, map[string]int{}, "", false},
		{"NaN loss only", []map[string]any{{"step": 1.0, "loss": math.NaN(), "grad_norm": 1.0}}, dpoInfo,
			[]string{"grad_norm"}, map[string]int{}, "", false},
	} {
		m := buildPlot(tt.history, tt.info)
		var keys []string
		evals := map[string]int{}
		for _, p := range m.panels {
			keys = append(keys, p.key)
			if len(p.train)+len(p.eval) == 0 {
				t.Errorf("%s: empty panel %s", tt.name, p.key)
			}
			for _, s := range p.eval {
				evals[p.key] += len(s.raw)
			}
			for _, s := range p.train {
				if p.smoothed != (p.key != "lr") || p.smoothed && len(s.smooth) != len(s.raw) {
					t.Errorf("%s: %s smoothed %d points of %d", tt.name, p.key, len(s.smooth), len(s.raw))
				}
			}
		}
		if !slices.Equal(keys, tt.panels) {
			t.Errorf("%s: panels %v, want %v", tt.name, keys, tt.panels)
		}
		for k, n := range tt.evals {
			if evals[k] != n {
				t.Errorf("%s: %d eval markers in %s, want %d", tt.name, evals[k], k, n)
			}
		}
		for k := range evals {
			if _, ok := tt.evals[k]; !ok {
				t.Errorf("%s: unexpected eval markers in %s", tt.name, k)
			}
		}
		if tt.title != "" && m.title != tt.title {
			t.Errorf("%s: title %q, want %q", tt.name, m.title, tt.title)
		}
		b, err := renderPlot(m, plotWidth, plotRowHeight)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		cols := plotCols(len(tt.panels))
		rows := max(1, (len(tt.panels)+cols-1)/cols)
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != plotWidth || h != plotTitleH+rows*plotRowHeight {
			t.Errorf("%s: %dx%d image", tt.name, w, h)
		}
		if tt.name == "dpo with eval" {
			if dir := os.Getenv("DPO_PLOT_DIR"); dir != "" { // to look at it
				os.WriteFile(dir+"/plot-dpo.png", b, 0o644)
			}
			checkPanelColours(t, img, m)
		}
		if tt.name == "sft only" {
			if dir := os.Getenv("DPO_PLOT_DIR"); dir != "" {
				os.WriteFile(dir+"/plot-sft.png", b, 0o644)
			}
		}
	}
}

// checkPanelColours: every panel's smoothed line is drawn in its colour,
// and the eval markers (black rings, or the series colour) are drawn.
func checkPanelColours(t *testing.T, img image.Image, m plotModel) {
	t.Helper()
	count := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			count[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8)}]++
		}
	}
	for _, p := range m.panels {
		for _, s := range p.train {
			if c := count[[3]uint8{s.color.R, s.color.G, s.color.B}]; c < 100 {
				t.Errorf("panel %s: colour of %s drawn on %d pixels", p.key, s.name, c)
			}
		}
	}
	if c := count[[3]uint8{0, 0, 0}]; c < 500 { // axes, text and the eval rings
		t.Errorf("black drawn on %d pixels", c)
	}
}

// TestEvalMarkersDrawn: the eval markers put pixels on the image; the same
// plot without them has fewer dark pixels in the loss panel.
func TestEvalMarkersDrawn(t *testing.T) {
	h := fakeHistory(60, 10, false)
	info := plotInfo{model: "m", terms: []dpo.Term{{Name: dpo.SFT, Weight: 1}}}
	with := buildPlot(h, info)
	without := buildPlot(h, info)
	without.panels[0].eval = nil
	dark := func(m plotModel) int {
		b, err := renderPlot(m, plotWidth, plotRowHeight)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for y := plotTitleH; y < plotTitleH+plotRowHeight; y++ {
			for x := 0; x < plotWidth/3; x++ {
				r, g, bb, _ := img.At(x, y).RGBA()
				if r>>8 < 60 && g>>8 < 60 && bb>>8 < 60 {
					n++
				}
			}
		}
		return n
	}
	if a, b := dark(with), dark(without); a < b+6*20 { // six rings and a dashed line, ~20+ dark pixels a ring
		t.Errorf("dark pixels with eval markers %d, without %d", a, b)
	}
}

// TestSmoothTensorBoard checks the EMA against values worked by hand from
// TensorBoard's formula (weight 0.6, debiased).
func TestSmoothTensorBoard(t *testing.T) {
	xy := fakeXY(1, 2, 3)
	got := smooth(xy, 0.6)
	// last1 = 0.4, /0.4 = 1; last2 = 0.24+0.8 = 1.04, /0.64 = 1.625;
	// last3 = 0.624+1.2 = 1.824, /0.784 = 2.326530...
	want := []float64{1, 1.625, 1.824 / 0.784}
	for i := range want {
		if math.Abs(got[i].Y-want[i]) > 1e-12 || got[i].X != xy[i].X {
			t.Errorf("point %d: %v, want %v", i, got[i], want[i])
		}
	}
	if c := smooth(fakeXY(2, 2, 2), 0.6); c[0].Y != 2 || c[2].Y != 2 {
		t.Errorf("constant series changed: %v", c)
	}
}

func fakeXY(ys ...float64) plotter.XYs {
	out := make(plotter.XYs, len(ys))
	for i, y := range ys {
		out[i] = plotter.XY{X: float64(i + 1), Y: y}
	}
	return out
}

// TestPlotTitle: the title names the objective, β and where the weights
// come from, plainly.
func TestPlotTitle(t *testing.T) {
	sig := []dpo.Term{{Name: "sigmoid", Weight: 1}}
	for _, tt := range []struct {
		info plotInfo
		want string
	}{
		{plotInfo{model: "examples/out/sft", terms: sig, beta: 0.1, rewards: true}, "DPO (sigmoid, β 0.1) from examples/out/sft"},
		{plotInfo{model: "/m/Qwen3-0.6B", arch: "Qwen3, 596M parameters", terms: []dpo.Term{{Name: "sigmoid", Weight: 1}, {Name: dpo.SFT, Weight: 0.2}}, beta: 0.05, rewards: true},
			"DPO (sigmoid + 0.2 × sft, β 0.05) from /m/Qwen3-0.6B (Qwen3, 596M parameters)"},
		{plotInfo{model: "tiny.json", scratch: true, arch: "GPT2, 1.2M parameters", terms: []dpo.Term{{Name: dpo.SFT, Weight: 1}}, beta: 0.1}, "SFT from random weights (tiny.json: GPT2, 1.2M parameters)"},
		{plotInfo{terms: []dpo.Term{{Name: "ipo", Weight: 0.5}}, beta: 0.1, rewards: true, arch: "Llama"}, "DPO (0.5 × ipo, β 0.1) of Llama"},
	} {
		if got := plotTitle(tt.info); got != tt.want {
			t.Errorf("title %q, want %q", got, tt.want)
		}
	}
	for n, want := range map[int]string{596049920: "596M", 1543714304: "1.54B", 12345: "12.3k", 999: "999", 2000000: "2M"} {
		if got := humanCount(n); got != want {
			t.Errorf("humanCount(%d) = %q, want %q", n, got, want)
		}
	}
	if got := archLabel(model.ArchQwen3, 596049920); got != "Qwen3, 596M parameters" {
		t.Errorf("archLabel = %q", got)
	}
	if got := archLabel(model.ArchGPT2, 0); got != "GPT2" {
		t.Errorf("archLabel = %q", got)
	}
}

// TestStepTicks: the step axis has whole-number labels ("25", not
// "25.00") and integer ticks, whatever the number of steps.
func TestStepTicks(t *testing.T) {
	for _, tt := range []struct {
		lo, hi float64
		labels []string
	}{
		{0, 120, []string{"0", "20", "40", "60", "80", "100", "120"}},
		{0, 100, []string{"0", "20", "40", "60", "80", "100"}},
		{0, 3, []string{"0", "1", "2", "3"}},
		{0, 1, []string{"0", "1"}},
		{0, 10, []string{"0", "2", "4", "6", "8", "10"}},
		{0, 2500, []string{"0", "500", "1000", "1500", "2000", "2500"}},
		{5, 5, []string{"5"}},
	} {
		var labels []string
		for _, tk := range (stepTicks{}).Ticks(tt.lo, tt.hi) {
			if tk.Value != math.Trunc(tk.Value) || tk.Value < tt.lo || tk.Value > tt.hi {
				t.Errorf("[%g, %g]: tick at %g", tt.lo, tt.hi, tk.Value)
			}
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if !slices.Equal(labels, tt.labels) {
			t.Errorf("[%g, %g]: labels %q, want %q", tt.lo, tt.hi, labels, tt.labels)
		}
	}
}

// TestEvalLegend: eval results are a series of their own, "eval set",
// drawn as rings on a dashed line, not as dots like a training point.
func TestEvalLegend(t *testing.T) {
	m := buildPlot(fakeHistory(60, 10, true), plotInfo{model: "m", terms: []dpo.Term{{Name: "sigmoid", Weight: 1}}, beta: 0.1, rewards: true})
	names := map[string][]string{}
	for _, p := range m.panels {
		for _, s := range p.eval {
			names[p.key] = append(names[p.key], s.name)
		}
	}
	if !slices.Equal(names["loss"], []string{"eval set"}) || !slices.Equal(names["rewards"], []string{"eval set, chosen", "eval set, rejected"}) {
		t.Errorf("eval legend names %v", names)
	}
	line, rings, err := evalPlotters(fakeXY(1, 2), colEval)
	if err != nil {
		t.Fatal(err)
	}
	if len(line.LineStyle.Dashes) == 0 {
		t.Error("eval line is not dashed")
	}
	if _, ok := rings.GlyphStyle.Shape.(evalGlyph); !ok {
		t.Errorf("eval glyph %T, want the ring", rings.GlyphStyle.Shape)
	}
}
