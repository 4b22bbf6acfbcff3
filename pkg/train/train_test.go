package train_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// newBase writes a random tiny Llama checkpoint into dir/base.
func newBase(t testing.TB, dir string, hidden, layers int, seed int64) string {
	t.Helper()
	cfgPath := tinyLlama(t, dir, hidden, layers)
	cfg, err := model.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base")
	if err := model.Save(base, model.RandomInit(cfg, seed), safetensors.F32); err != nil {
		t.Fatal(err)
	}
	return base
}

func testConfig(base, input, out string) train.Config {
	c := train.DefaultConfig()
	c.Model, c.Input, c.Out = base, input, out
	c.Backend = "go:ops_sequential"
	c.LoggingSteps = 0
	return c
}

// TestFirstStepLossIsLn2: with the reference computed by the engine from
// the policy's own weights, every sigmoid-DPO margin is 0, so the first
// loss is ln 2, the rewards 0 and the accuracy 0 (strictly greater).
func TestFirstStepLossIsLn2(t *testing.T) {
	dir := t.TempDir()
	base := newBase(t, dir, 32, 1, 3)
	ps := synthPairs(12, 1)
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, engineRefs(t, base, ps), "")
	c := testConfig(base, in, filepath.Join(dir, "out"))
	c.BatchSize, c.MaxSteps, c.LR = 12, 1, 1e-3
	res, err := train.Run(context.Background(), c, "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The policy's sums come from the f32 training graph, the reference's
	// from the engine's per-token f32 values summed in f64: they agree to
	// ~1e-6 per sequence, so β·z ~ 1e-7.
	if d := math.Abs(res.Final["loss"] - math.Ln2); d > 1e-6 {
		t.Errorf("step-1 loss %.9f, want ln 2 = %.9f (diff %g)", res.Final["loss"], math.Ln2, d)
	}
	if m := math.Abs(res.Final["rewards/margins"]); m > 1e-5 {
		t.Errorf("step-1 reward margin %g, want 0", m)
	}
	if g := res.Final["grad_norm"]; !(g > 0) {
		t.Errorf("grad_norm %g, want > 0", g)
	}
}
