package train

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"github.com/dpo-go/dpo/pkg/safetensors"
)

// writePlot draws loss, reward margin and reward accuracy against the
// step, with axes and a legend, as a PNG (standard library only; a 3x5
// bitmap font for the labels).
func writePlot(path string, history []map[string]any) error {
	img := drawPlot(history)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return safetensors.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
}

var (
	colLoss   = color.RGBA{200, 30, 30, 255}
	colMargin = color.RGBA{30, 90, 200, 255}
	colAcc    = color.RGBA{20, 150, 50, 255}
	colAxis   = color.RGBA{0, 0, 0, 255}
	colGrid   = color.RGBA{225, 225, 225, 255}
)

func drawPlot(history []map[string]any) *image.RGBA {
	const W, H, left, right, top, bottom = 640, 400, 50, 20, 40, 30
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	series := []struct {
		key string
		col color.RGBA
	}{{"loss", colLoss}, {"rewards/margins", colMargin}, {"rewards/accuracies", colAcc}}
	var xs []float64
	ys := make([][]float64, len(series))
	lo, hi := 0.0, 1.0
	for _, rec := range history {
		s, ok := rec["step"].(float64)
		if !ok {
			continue
		}
		xs = append(xs, s)
		for i, se := range series {
			v, _ := rec[se.key].(float64)
			ys[i] = append(ys[i], v)
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	xmax := 1.0
	if len(xs) > 0 {
		xmax = math.Max(xs[len(xs)-1], 1)
	}
	px := func(x float64) int { return left + int(math.Round(x/xmax*float64(W-left-right))) }
	py := func(y float64) int {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			y = lo
		}
		return H - bottom - int(math.Round((y-lo)/(hi-lo)*float64(H-top-bottom)))
	}
	// grid and tick labels
	for i := 0; i <= 4; i++ {
		y := lo + (hi-lo)*float64(i)/4
		hline(img, left, W-right, py(y), colGrid)
		drawText(img, 2, py(y)-2, fmt.Sprintf("%.2f", y), colAxis)
		x := xmax * float64(i) / 4
		drawText(img, px(x)-6, H-bottom+6, fmt.Sprintf("%.0f", x), colAxis)
	}
	hline(img, left, W-right, H-bottom, colAxis)
	vline(img, left, top, H-bottom, colAxis)
	if lo < 0 && hi > 0 {
		hline(img, left, W-right, py(0), colAxis)
	}
	drawText(img, W/2-10, H-10, "STEP", colAxis)
	for i, se := range series {
		for j := 1; j < len(xs); j++ {
			line(img, px(xs[j-1]), py(ys[i][j-1]), px(xs[j]), py(ys[i][j]), se.col)
		}
		if len(xs) == 1 {
			img.Set(px(xs[0]), py(ys[i][0]), se.col)
		}
		lx := left + 10 + i*150
		for k := 0; k < 20; k++ {
			img.Set(lx+k, 15, se.col)
			img.Set(lx+k, 16, se.col)
		}
		drawText(img, lx+25, 13, map[string]string{"loss": "LOSS", "rewards/margins": "REWARD MARGIN", "rewards/accuracies": "ACCURACY"}[se.key], se.col)
	}
	return img
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// line draws with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// font3x5 holds 3x5 glyphs, one row per string, '#' set.
var font3x5 = map[rune][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"}, '1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"}, '3': {"###", "..#", "###", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"}, '5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"}, '7': {"###", "..#", "..#", "..#", "..#"},
	'8': {"###", "#.#", "###", "#.#", "###"}, '9': {"###", "#.#", "###", "..#", "###"},
	'.': {"...", "...", "...", "...", ".#."}, '-': {"...", "...", "###", "...", "..."},
	'A': {".#.", "#.#", "###", "#.#", "#.#"}, 'C': {"###", "#..", "#..", "#..", "###"},
	'D': {"##.", "#.#", "#.#", "#.#", "##."}, 'E': {"###", "#..", "##.", "#..", "###"},
	'G': {"###", "#..", "#.#", "#.#", "###"}, 'I': {"###", ".#.", ".#.", ".#.", "###"},
	'L': {"#..", "#..", "#..", "#..", "###"}, 'M': {"#.#", "###", "###", "#.#", "#.#"},
	'N': {"##.", "#.#", "#.#", "#.#", "#.#"}, 'O': {"###", "#.#", "#.#", "#.#", "###"},
	'P': {"###", "#.#", "###", "#..", "#.."}, 'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {"###", "#..", "###", "..#", "###"}, 'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'U': {"#.#", "#.#", "#.#", "#.#", "###"}, 'W': {"#.#", "#.#", "###", "###", "#.#"},
	'Y': {"#.#", "#.#", ".#.", ".#.", ".#."}, ' ': {"...", "...", "...", "...", "..."},
}

// drawText writes s with its top-left corner at (x, y), 4 pixels per glyph.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		if g, ok := font3x5[r]; ok {
			for gy, row := range g {
				for gx, ch := range row {
					if ch == '#' {
						img.Set(x+gx, y+gy, c)
					}
				}
			}
		}
		x += 4
	}
}
