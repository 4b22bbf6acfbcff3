package train_test

import (
	"context"
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/pkg/train"
)

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// TestGradAccumEqualsLargeBatch: micro-batches of 4 and 2 pairs
// accumulated over one step give the gradient of the mean over the 6
// pairs (not the mean of the two micro-batch means, which would weight
// the 2-pair batch double): grad_norm and the weights after two steps
// match one 6-pair batch (6 pairs, two epochs: two steps each).
func TestGradAccumEqualsLargeBatch(t *testing.T) {
	dir := t.TempDir()
	base := newBase(t, dir, 32, 1, 5)
	ps := synthPairs(6, 2)
	refs := engineRefs(t, base, ps)
	for i := range refs { // move the reference off the policy so that margins differ per pair
		refs[i][0] -= 0.3 * float64(i%3)
		refs[i][1] += 0.2 * float64(i%4)
	}
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	for _, loss := range []string{"sigmoid", "sft", "ipo"} {
		t.Run(loss, func(t *testing.T) {
			run := func(name string, bs, accum int) (*train.Result, map[string][]byte) {
				c := testConfig(base, in, filepath.Join(dir, loss+name))
				c.Loss, c.BatchSize, c.GradAccum, c.LR, c.Epochs = loss, bs, accum, 1e-3, 2
				c.MaxGradNorm = 0
				res, err := train.Run(context.Background(), c, "test", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return res, weightsBytes(t, c.Out)
			}
			big, wb := run("big", 6, 1)
			acc, wa := run("acc", 4, 2)
			if a, b := acc.Final["grad_norm"], big.Final["grad_norm"]; math.Abs(a-b) > 1e-5*b {
				t.Errorf("grad_norm accumulated %.8g, large batch %.8g", a, b)
			}
			// Relative: IPO's loss is ~22 here, where one float32 ulp is 2e-6.
			if a, b := acc.Final["loss"], big.Final["loss"]; math.Abs(a-b) > 1e-6*math.Max(1, math.Abs(b)) {
				t.Errorf("loss accumulated %.8g, large batch %.8g", a, b)
			}
			changed := false
			for name, b := range wb {
				x, y := f32s(b), f32s(wa[name])
				for i := range x {
					if d := math.Abs(float64(x[i] - y[i])); d > 1e-6 {
						t.Fatalf("%s[%d]: accumulated %g, large batch %g", name, i, y[i], x[i])
					}
				}
				changed = changed || string(b) != string(wa[name])
			}
			_ = changed
		})
	}
}
