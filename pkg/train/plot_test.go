package train

import (
	"math"
	"testing"
)

// TestDrawPlot draws a history with a NaN and a single point without
// hanging, and puts each series' colour on the image.
func TestDrawPlot(t *testing.T) {
	for _, h := range [][]map[string]any{
		nil,
		{{"step": 1.0, "loss": 0.69, "rewards/margins": 0.0, "rewards/accuracies": 0.0}},
		{{"step": 1.0, "loss": 0.69, "rewards/margins": -0.5, "rewards/accuracies": 0.2},
			{"step": 2.0, "loss": math.NaN(), "rewards/margins": 1.5, "rewards/accuracies": 0.5},
			{"step": 30.0, "loss": 0.3, "rewards/margins": 3.0, "rewards/accuracies": 1.0}},
	} {
		img := drawPlot(h)
		count := map[[3]uint8]int{}
		for i := 0; i < len(img.Pix); i += 4 {
			count[[3]uint8{img.Pix[i], img.Pix[i+1], img.Pix[i+2]}]++
		}
		if len(h) > 0 {
			for _, c := range [][3]uint8{{colLoss.R, colLoss.G, colLoss.B}, {colMargin.R, colMargin.G, colMargin.B}, {colAcc.R, colAcc.G, colAcc.B}} {
				if count[c] < 20 {
					t.Errorf("%d points: colour %v drawn %d times", len(h), c, count[c])
				}
			}
		}
	}
}
